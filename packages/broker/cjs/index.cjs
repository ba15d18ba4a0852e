'use strict';
// CommonJS entry of @warren/broker. The package is ES modules, and Node 20 cannot require() an ES module without
// --experimental-require-module, so this entry offers the API as async functions that import() the ES build:
//   const { startBroker } = require('@warren/broker');
//   const broker = await startBroker({ port: 0 });     // broker.url, broker.port, broker.broker, broker.close()
// load() resolves to the whole ES module (Broker, startBroker) for anything else.
const load = () => import('../dist/index.js');
exports.load = load;
exports.startBroker = async (options) => (await load()).startBroker(options);
