// Package web holds the browser-side files the agent serves, embedded in the
// binary: the JavaScript client of the protocol (tokenagent.js) and its
// TypeScript declarations (tokenagent.d.ts). They are plain files, with no
// build step; the ws package serves them.
package web

import "embed"

// Files holds tokenagent.js and tokenagent.d.ts at its root.
//
//go:embed tokenagent.js tokenagent.d.ts
var Files embed.FS
