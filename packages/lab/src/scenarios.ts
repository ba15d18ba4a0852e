import type { Lab } from './lab.ts';
export interface Scenario { name: string; claim: string }
export const SCENARIOS: Scenario[] = [];
export async function runScenarios(_lab: Lab, _names: string[], _o: { svgDir: string; log: (l: string) => void }): Promise<{ pass: boolean }[]> { return []; }
