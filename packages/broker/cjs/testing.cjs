'use strict';
// CommonJS entry of @warren/broker/testing (see ../dist/testing.d.ts): the same functions, importing the ES build.
// jest: globalSetup: '@warren/broker/testing' (one broker for the run, URL in process.env.AMQP_URL); globalTeardown: a
// file with module.exports = require('@warren/broker/testing').teardown.
const load = () => import('../dist/testing.js');
module.exports = async function setup(...args) {
  return (await load()).default(...args);
};
module.exports.default = module.exports;
module.exports.teardown = async () => (await load()).teardown();
module.exports.brokerForWorker = async (options) => (await load()).brokerForWorker(options);
module.exports.stopWorkerBroker = async () => (await load()).stopWorkerBroker();
