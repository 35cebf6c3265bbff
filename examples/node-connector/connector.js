#!/usr/bin/env node
// A connector written in JavaScript: the isolation protocol, version 2, and nothing else:
// two commands, a typeahead category, a webhook trigger, a poller, an OAuth sign-in and a live check.
// See docs/isolation-protocol.md; no npm package is needed.
"use strict";

const readline = require("node:readline");

const NAME = process.argv[2] || "textkit";
const commands = {
  WordCount: {
    description: "Count the words of a text.",
    parameters: {
      type: "object",
      properties: { text: { type: "string", description: "The text to count." } },
      required: ["text"],
      additionalProperties: false,
    },
    // what it answers (command_response.body): the catalog's output_schema
    output: { type: "object", additionalProperties: { type: "integer" } },
    run: ({ text }) => ({ words: text.split(/\s+/).filter(Boolean).length }),
  },
  Slugify: {
    description: "Turn a title into a URL slug.",
    parameters: {
      type: "object",
      properties: {
        text: { type: "string", description: "The title." },
        separator: { type: "string", default: "-", description: "Between words." },
      },
      required: ["text"],
      additionalProperties: false,
    },
    errors: [{ code: "NothingLeft", description: "Nothing but punctuation was given.", status: 422 }],
    output: { type: "object", additionalProperties: { type: "string" } },
    run: ({ text, separator }) => {
      const words = text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9\s]/g, "").split(/\s+/).filter(Boolean);
      if (words.length === 0) {
        throw { code: "NothingLeft", message: "the title has no letters or digits", status: 422 };
      }
      return { slug: words.join(separator) };
    },
  },
};

// typeahead categories: suggestions for a form field, as the user types
const typeaheads = {
  languages: {
    description: "Programming languages starting with the prefix.",
    suggest: (prefix, limit) =>
      ["go", "java", "javascript", "kotlin", "python", "rust", "typescript"]
        .filter((name) => name.startsWith(prefix))
        .slice(0, limit)
        .map((name) => ({ name })),
  },
};

// webhook triggers: the daemon asks to verify a sender's request and to turn it into events
const refuse = (message) => ({ code: "InvalidSignature", message, status: 401 });
const triggers = {
  note_posted: {
    description: "A note posted by a sender holding the subscription's token (X-Webhook-Token).",
    settings: {
      type: "object",
      required: ["secret"],
      properties: { secret: { type: "string", secret: true } },
    },
    verify: (settings, headers) => {
      const given = Object.entries(headers).find(([name]) => name.toLowerCase() === "x-webhook-token");
      if (!given || given[1] !== settings.secret) throw refuse("X-Webhook-Token is missing or holds the wrong token");
    },
    receive: (json) => [{ key: String(json.id), data: { id: json.id, text: json.text } }],
  },
};

// polling triggers: the daemon asks for what is new since its cursor, on the subscription's schedule
const pollers = {
  counted: {
    description: "Numbers from 0 up to the subscription's count, two a poll.",
    settings: {
      type: "object",
      required: ["count"],
      properties: { count: { type: "integer", minimum: 0 } },
    },
    poll: (settings, cursor) => {
      const from = cursor || 0;
      const upTo = Math.min(from + 2, settings.count);
      const events = [];
      for (let n = from; n < upTo; n += 1) events.push({ key: `n-${n}`, data: { n } });
      return { events, cursor: upTo };
    },
  },
};

// an OAuth 2.0 sign-in, declared once configured: the daemon runs the browser's part with it
const auths = (config) =>
  config.provider_url
    ? [{
        name: "provider", flow: "authorization_code", description: "Sign in at the text provider.",
        authorization_url: `${config.provider_url}/authorize`, token_url: `${config.provider_url}/token`,
        scopes: ["read"], pkce: true, token_auth: "client_secret_post", authorize_params: {},
        client_id_key: "client_id", client_secret_key: "client_secret",
      }]
    : [];

// the live check an operator runs: cheap and read-only
const check = {
  description: "Say which prefix slugs get.",
  run: () => `slugs get the prefix ${JSON.stringify(prefix)}`,
};

const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");
const answer = (id, body) =>
  send({ type: "result", id, body, http_status: 200, mimetype: "application/json", logs: [] });
let prefix = "";

send({
  type: "hello",
  protocol: 2,
  connector: {
    name: NAME,
    description: "Text utilities, written in JavaScript.",
    version: "1.0.0",
    config_schema: {
      type: "object",
      properties: {
        prefix: { type: "string", default: "" },
        provider_url: { type: "string" },
        client_id: { type: "string" },
        client_secret: { type: "string", secret: true },
      },
      additionalProperties: false,
    },
    commands: Object.entries(commands).map(([name, c]) => ({
      name,
      description: c.description,
      parameters: c.parameters,
      errors: c.errors || [],
      output: c.output || null,
      aliases: [],
      asynchronous: false,
    })),
    typeaheads: Object.entries(typeaheads).map(([name, t]) => ({ name, description: t.description })),
    triggers: [
      ...Object.entries(triggers).map(([name, t]) => ({
        name, kind: "webhook", description: t.description, settings: t.settings, payload: null,
      })),
      ...Object.entries(pollers).map(([name, t]) => ({
        name, kind: "poller", description: t.description, settings: t.settings, acknowledges: false,
      })),
    ],
    check: { description: check.description },
  },
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.type === "configure") {
    prefix = (message.config && message.config.prefix) || "";
    send({ type: "ready", pid: process.pid, auths: auths(message.config || {}) });
  } else if (message.type === "suggest") {
    answer(message.id, typeaheads[message.category].suggest(message.prefix, message.limit));
  } else if (message.type === "poll") {
    answer(message.id, pollers[message.trigger].poll(message.settings, message.cursor));
  } else if (message.type === "check") {
    answer(message.id, check.run());
  } else if (message.type === "verify" || message.type === "receive") {
    const trigger = triggers[message.trigger];
    try {
      if (message.type === "verify" || message.verify) trigger.verify(message.settings, message.headers);
      answer(message.id, message.type === "receive" ? trigger.receive(message.json) : null);
    } catch (error) {
      send({ type: "error", id: message.id, error_code: error.code, declared: error.code,
             message: error.message, http_status: error.status, body: null, logs: [] });
    }
  } else if (message.type === "call") {
    const command = commands[message.command];
    try {
      const body = command.run(message.parameters);
      if (prefix && body.slug) body.slug = prefix + body.slug;
      send({ type: "result", id: message.id, body, http_status: 200, mimetype: "application/json",
             logs: [`[INFO] ${message.command} answered by textkit`] });
    } catch (error) {
      if (error && error.code) {
        send({ type: "error", id: message.id, error_code: error.code, declared: error.code,
               message: error.message, http_status: error.status, body: null, logs: [] });
      } else {
        send({ type: "crash", id: message.id, exception: (error && error.name) || "Error",
               message: String((error && error.message) || error), logs: [] });
      }
    }
  }
});
