// A backend process for the proxy tests: greets each connection with its tag, then echoes.
//   --tag A          greeting line
//   --port N         listen port (default: any free port)
//   --health         also listen on a separate health port; SIGUSR2 closes/reopens it
//   --silent         accept connections and never answer (a wedged server)
// Prints one JSON line {"port":N,"healthPort":M} on stdout once listening.
import net from 'node:net';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const tag = opt('--tag') ?? 'X';
const silent = args.includes('--silent');
const wantHealth = args.includes('--health');

const server = net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => {});
  if (silent) return;
  s.write(`${tag}\n`);
  s.pipe(s);
});
let health = null;
let healthPort = null;
const openHealth = () =>
  new Promise((resolve) => {
    health = net.createServer((s) => s.destroy());
    health.listen(healthPort ?? 0, '127.0.0.1', () => {
      healthPort = health.address().port;
      resolve();
    });
  });
process.on('SIGUSR2', () => {
  if (health) {
    health.close();
    health = null;
  } else void openHealth();
});
server.listen(Number(opt('--port') ?? 0), '127.0.0.1', async () => {
  if (wantHealth) await openHealth();
  process.stdout.write(JSON.stringify({ port: server.address().port, healthPort }) + '\n');
});
