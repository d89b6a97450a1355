// Preloaded into kinesis-mock (node --require): it has no bind-address setting and would listen on
// every interface. Every server's listen() is made to bind 127.0.0.1, whatever host it asked for.
"use strict";
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    args[0] = { ...first, host: "127.0.0.1" };
  } else if (typeof first === "number" || typeof first === "string") {
    const rest = args.slice(1).filter((a) => typeof a === "function" || typeof a === "number");
    const callback = rest.find((a) => typeof a === "function");
    return callback ? listen.call(this, first, "127.0.0.1", callback) : listen.call(this, first, "127.0.0.1");
  }
  return listen.apply(this, args);
};
