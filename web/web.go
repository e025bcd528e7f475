// Package web holds the browser-side files the agent serves, embedded in the
// binary: the JavaScript client of the protocol (tokenagent.js) and its
// TypeScript declarations (tokenagent.d.ts), the self-service page and the
// consent page, where the person approves a web page's call and types its
// PIN (docs/PROTOCOL.md section 7). They are plain files, with no
// build step; the ws package serves them, and package.json makes the same
// two files the npm package @tokenagent/client (README.md is its page).
package web

import "embed"

// Files holds tokenagent.js and tokenagent.d.ts at its root, the
// self-service page under app/: index.html, its ES modules (app.js, which
// imports the others) and app.css, and the consent page under consent/:
// index.html, consent.js (which imports i18n.js) and consent.css.
//
//go:embed tokenagent.js tokenagent.d.ts app consent
var Files embed.FS
