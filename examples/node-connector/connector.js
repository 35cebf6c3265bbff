#!/usr/bin/env node
// A connector written in JavaScript: the isolation protocol, version 2, and nothing else:
// two commands, a typeahead category and a webhook trigger.
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
      if (!given || given[1] !== settings.secret) throw refuse("X-Webhook-Token is missing or wrong");
    },
    receive: (json) => [{ key: String(json.id), data: { id: json.id, text: json.text } }],
  },
};

const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");
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
      properties: { prefix: { type: "string", default: "" } },
      additionalProperties: false,
    },
    commands: Object.entries(commands).map(([name, c]) => ({
      name,
      description: c.description,
      parameters: c.parameters,
      errors: c.errors || [],
      aliases: [],
      asynchronous: false,
    })),
    typeaheads: Object.entries(typeaheads).map(([name, t]) => ({ name, description: t.description })),
    triggers: Object.entries(triggers).map(([name, t]) => ({
      name, kind: "webhook", description: t.description, settings: t.settings, payload: null,
    })),
  },
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.type === "configure") {
    prefix = (message.config && message.config.prefix) || "";
    send({ type: "ready", pid: process.pid });
  } else if (message.type === "suggest") {
    const body = typeaheads[message.category].suggest(message.prefix, message.limit);
    send({ type: "result", id: message.id, body, http_status: 200, mimetype: "application/json", logs: [] });
  } else if (message.type === "verify" || message.type === "receive") {
    const trigger = triggers[message.trigger];
    try {
      if (message.type === "verify" || message.verify) trigger.verify(message.settings, message.headers);
      const body = message.type === "receive" ? trigger.receive(message.json) : null;
      send({ type: "result", id: message.id, body, http_status: 200, mimetype: "application/json", logs: [] });
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
             logs: [`[INFO] ${message.command} answered by node ${process.version}`] });
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
