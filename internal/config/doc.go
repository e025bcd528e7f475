// Package config is the one owner of tokenagent's configuration: its
// types, its defaults, reading the TOML file (section 6 of
// docs/PROTOCOL.md) with errors that name the file, line and key, the
// command-line overrides, the standard places of the files, and the one
// edit the agent makes to the file itself (the [tls] table that `tls
// setup` writes and `tls remove` takes away), which keeps the user's
// comments and layout.
//
// The file is parsed with github.com/pelletier/go-toml/v2: its decoder
// gives the values and the TOML errors, its unstable parser the line of
// every key, table header and array item (position.go), and the extents
// of the expressions an edit replaces (edit.go).
//
// # Defaults
//
// A default belongs to the package that uses the value (ws for the
// listener and its limits, agent for polling, renewal and media); Default
// takes them from there and repeats none. Limits that only the file can
// break (the smallest max_message_bytes, the range of poll_interval) are
// this package's.
//
// # Adding a key
//
//  1. Add the field to Config (or to the struct of its table) and its
//     default to Default, taken from the package that uses it.
//  2. Add the key's name to the known keys of its table (topKeys, or the
//     table's list in decode.go): unknown keys are errors with a "did you
//     mean" hint, so a key missing there is refused.
//  3. Decode it in decode.go with the typed readers of values.go (str, boolean,
//     intRange, duration, strList, pattern): each reports a wrong type or
//     range at the key's line, in the package's words.
//  4. Add a row to TestLoadErrors for each way the value can be
//     wrong, the key to fullConfig and to the example in docs/PROTOCOL.md
//     section 6, and pass it on in cmd/tokenagent.
//
// Nothing here keeps state: the functions are safe for concurrent use.
package config
