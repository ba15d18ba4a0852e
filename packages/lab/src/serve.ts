export async function serve(_dir: string, _port: number): Promise<void> {}
