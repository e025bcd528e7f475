// Package web holds the browser-side files the agent serves, embedded in the
// binary: the JavaScript client of the protocol (tokenagent.js) and its
// TypeScript declarations (tokenagent.d.ts). They are plain files, with no
// build step; the ws package serves them, and package.json makes the same
// two files the npm package @tokenagent/client (README.md is its page).
package web

import "embed"

// Files holds tokenagent.js and tokenagent.d.ts at its root, and the
// self-service page under app/: index.html, its ES modules (app.js, which
// imports the others) and app.css.
//
//go:embed tokenagent.js tokenagent.d.ts app
var Files embed.FS
