/** @warren/proxy: an haproxy.cfg-compatible TCP load balancer. */
export { LoadBalancer, type LoadBalancerOptions } from './load-balancer.ts';
export { ConfigError, formatMessage, parseConfigFiles, parseConfigTexts } from './config/parse-config.ts';
export type { Config, ProxyConfig, ServerConfig } from './config/types.ts';
export { MemoryLogger, StderrLogger, type Logger } from './logger.ts';
export { runCommand } from './runtime/commands.ts';
export { collectStats } from './stats/stats-rows.ts';
export { statsCsv, statsJson } from './stats/stats-format.ts';
