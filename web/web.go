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
// self-service page (index.html, app.js, i18n.js, app.css) under app/,
// and the consent page (the same names) under consent/.
//
//go:embed tokenagent.js tokenagent.d.ts app/index.html app/app.js app/i18n.js app/app.css
//go:embed consent/index.html consent/consent.js consent/i18n.js consent/consent.css
var Files embed.FS
