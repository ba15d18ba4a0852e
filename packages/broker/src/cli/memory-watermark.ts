// rabbitmqctl set_vm_memory_high_watermark <fraction> | absolute <value>: argument checks and messages as
// rabbitmq-cli 3.10 words them, and the memory units RabbitMQ's vm_memory_monitor accepts.

/** RabbitMQ's memory units: k/kiB/M/MiB/G/GiB are powers of 1024, kB/KB/MB/GB powers of 1000; none: bytes. */
const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  kiB: 1024,
  M: 1024 ** 2,
  MiB: 1024 ** 2,
  G: 1024 ** 3,
  GiB: 1024 ** 3,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};

export const WATERMARK_USAGE = 'set_vm_memory_high_watermark <fraction> | absolute <value>';

export type WatermarkRequest = { ok: true; value: number; absolute: boolean; shown: string } | { ok: false; error: string };

/** Parses the command's arguments; an error is worded as rabbitmqctl words it. */
export function parseWatermarkArgs(args: string[]): WatermarkRequest {
  if (args.length === 0) return { ok: false, error: 'not enough arguments.' };
  if (args[0] === 'absolute') {
    if (args.length < 2) return { ok: false, error: 'not enough arguments.' };
    if (args.length > 2) return { ok: false, error: 'too many arguments.' };
    const m = /^(\d+)(.*)$/.exec(args[1]!);
    if (m === null) return { ok: false, error: `Bad argument.` };
    const unit = MEMORY_UNITS[m[2]!];
    if (unit === undefined) return { ok: false, error: m[2]!.startsWith('.') ? 'Bad argument.' : 'Invalid units.' };
    return { ok: true, value: Number(m[1]) * unit, absolute: true, shown: `${args[1]} bytes` };
  }
  if (args.length > 1) return { ok: false, error: 'too many arguments.' };
  const s = args[0]!;
  if (!/^\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s)) return { ok: false, error: 'Bad argument.' };
  const f = Number(s);
  if (f < 0 || f > 1) return { ok: false, error: 'The threshold should be a fraction between 0.0 and 1.0' };
  return { ok: true, value: f, absolute: false, shown: s };
}
