package config

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"

	"github.com/pelletier/go-toml/v2"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/ws"
)

// The known keys of each table; a key not listed is an error.
var (
	topKeys = []string{
		"listen", "modules", "allowed_origins", "allow_no_origin",
		"max_connections", "max_connections_per_origin", "max_message_bytes", "idle_timeout", "consent_timeout",
		"renew_before_days", "poll_interval", "state_dir", "audit_log", "audit_max_bytes", "audit_keep",
		"tls", "origin", "media",
	}
	tlsKeys    = []string{"cert", "key"}
	originKeys = []string{"origin", "methods", "pin_entry"}
	mediaKeys  = []string{"name", "description", "legacy", "upgrade_to", "carry_over_months",
		"match_manufacturer", "match_model", "match_label", "match_atr"}
)

// methodNames are the protocol's methods, which [[origin]] methods may name.
var methodNames = ws.Methods()

// pinEntries are the values of [[origin]] pin_entry.
var pinEntries = []ws.PINEntry{ws.PINEntryPage, ws.PINEntryAgent, ws.PINEntryEither}

var bom = []byte("\ufeff")

// decodeFile applies the config file data, read from path, to c.
func (c *Config) decodeFile(path string, data []byte) []*Error {
	doc := bytes.TrimPrefix(data, bom) // lines do not move: the mark is on the first
	var raw map[string]any
	if err := toml.Unmarshal(doc, &raw); err != nil {
		return []*Error{syntaxError(path, doc, err)}
	}
	d := &decoder{file: path, lines: keyLines(doc)}
	d.decode(c, raw)
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	return d.errs
}

// decoder turns the decoded file into a Config, collecting errors that
// name the line of the offending key.
type decoder struct {
	file  string
	lines map[string]int // keyPath id → line; see keyLines
	errs  []*Error
}

// errorf records a problem with the key at p.
func (d *decoder) errorf(p keyPath, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: d.line(p), Key: p.String(), Err: fmt.Errorf(format, args...)})
}

// line returns the line of the key at p, else of its closest ancestor
// (the table holding a missing key), else 0.
func (d *decoder) line(p keyPath) int {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if l, ok := d.lines[p.id()]; ok {
			return l
		}
	}
	return 0
}

// decode applies the top-level table m to c.
func (d *decoder) decode(c *Config, m map[string]any) {
	var root keyPath
	d.checkKeys(root, m, topKeys...)

	if v, p, ok := field(root, m, "listen"); ok {
		if s, ok := d.str(p, v); ok {
			if err := CheckListenAddr(s); err != nil {
				d.errorf(p, "%v", err)
			} else {
				c.Listen = s
			}
		}
	}
	if v, p, ok := field(root, m, "modules"); ok {
		if list, ok := d.strList(p, v); ok {
			c.Modules = nil
			for i, s := range list {
				switch {
				case s == "":
					d.errorf(p.index(i), "empty module path")
				case !slices.Contains(c.Modules, s):
					c.Modules = append(c.Modules, s)
				}
			}
		}
	}
	if v, p, ok := field(root, m, "allowed_origins"); ok {
		if list, ok := d.strList(p, v); ok {
			c.AllowedOrigins = nil
			for i, s := range list {
				n, err := NormalizeOrigin(s)
				switch {
				case err != nil:
					d.errorf(p.index(i), "%v", err)
				case !slices.Contains(c.AllowedOrigins, n):
					c.AllowedOrigins = append(c.AllowedOrigins, n)
				}
			}
		}
	}
	if v, p, ok := field(root, m, "allow_no_origin"); ok {
		if b, ok := d.boolean(p, v); ok {
			c.AllowNoOrigin = b
		}
	}
	if v, p, ok := field(root, m, "max_connections"); ok {
		if n, ok := d.intRange(p, v, 1, math.MaxInt32); ok {
			c.MaxConnections = int(n)
		}
	}
	if v, p, ok := field(root, m, "max_connections_per_origin"); ok {
		if n, ok := d.intRange(p, v, 1, math.MaxInt32); ok {
			c.MaxConnectionsPerOrigin = int(n)
		}
	}
	if v, p, ok := field(root, m, "max_message_bytes"); ok {
		if n, ok := d.intRange(p, v, MinMaxMessageBytes, math.MaxInt64); ok {
			c.MaxMessageBytes = n
		}
	}
	if v, p, ok := field(root, m, "idle_timeout"); ok {
		if dur, ok := d.duration(p, v); ok {
			if dur != 0 && (dur < MinIdleTimeout || dur > MaxIdleTimeout) {
				d.errorf(p, "must be 0 (never) or between %v and 24h, not %v", MinIdleTimeout, dur)
			} else {
				c.IdleTimeout = dur
			}
		}
	}
	if v, p, ok := field(root, m, "consent_timeout"); ok {
		if dur, ok := d.duration(p, v); ok {
			if dur < MinConsentTimeout || dur > MaxConsentTimeout {
				d.errorf(p, "must be between %v and 1h, not %v", MinConsentTimeout, dur)
			} else {
				c.ConsentTimeout = dur
			}
		}
	}
	if v, p, ok := field(root, m, "renew_before_days"); ok {
		if n, ok := d.intRange(p, v, 0, math.MaxInt32); ok {
			c.RenewBeforeDays = int(n)
		}
	}
	if v, p, ok := field(root, m, "poll_interval"); ok {
		if dur, ok := d.duration(p, v); ok {
			if dur < MinPollInterval || dur > MaxPollInterval {
				d.errorf(p, "must be between %v and 1h, not %v", MinPollInterval, dur)
			} else {
				c.PollInterval = dur
			}
		}
	}
	if v, p, ok := field(root, m, "state_dir"); ok {
		if s, ok := d.str(p, v); ok {
			c.StateDir = s
		}
	}
	if v, p, ok := field(root, m, "audit_log"); ok {
		if s, ok := d.str(p, v); ok {
			c.AuditLog = s
		}
	}
	if v, p, ok := field(root, m, "audit_max_bytes"); ok {
		if n, ok := d.intRange(p, v, MinAuditMaxBytes, math.MaxInt64); ok {
			c.AuditMaxBytes = n
		}
	}
	if v, p, ok := field(root, m, "audit_keep"); ok {
		if n, ok := d.intRange(p, v, 1, MaxAuditKeep); ok {
			c.AuditKeep = int(n)
		}
	}
	if v, p, ok := field(root, m, "tls"); ok {
		if t, ok := d.table(p, v); ok {
			c.TLS = d.decodeTLS(p, t)
		}
	}
	if v, p, ok := field(root, m, "origin"); ok {
		if ts, ok := d.tableList(p, v); ok {
			c.Origins = d.decodeOrigins(p, ts)
		}
	}
	if v, p, ok := field(root, m, "media"); ok {
		if ts, ok := d.tableList(p, v); ok {
			c.Media = d.decodeMedia(p, ts)
		}
	}
}

// decodeTLS decodes the [tls] table t at p.
func (d *decoder) decodeTLS(p keyPath, t map[string]any) TLS {
	d.checkKeys(p, t, tlsKeys...)
	var tc TLS
	if v, kp, ok := field(p, t, "cert"); ok {
		tc.Cert, _ = d.str(kp, v)
	}
	if v, kp, ok := field(p, t, "key"); ok {
		tc.Key, _ = d.str(kp, v)
	}
	switch {
	case tc.Cert != "" && tc.Key == "":
		d.errorf(p.key("cert"), "set without tls.key; give both or neither")
	case tc.Cert == "" && tc.Key != "":
		d.errorf(p.key("key"), "set without tls.cert; give both or neither")
	}
	return tc
}

// decodeOrigins decodes the [[origin]] tables ts at p.
func (d *decoder) decodeOrigins(p keyPath, ts []map[string]any) []OriginPolicy {
	var out []OriginPolicy
	seen := make(map[string]int) // origin → line
	for i, t := range ts {
		ip := p.index(i)
		d.checkKeys(ip, t, originKeys...)
		var pol OriginPolicy
		ok := true
		if v, kp, found := field(ip, t, "origin"); !found {
			d.errorf(ip.key("origin"), "required in every [[origin]] table")
			ok = false
		} else if s, isStr := d.str(kp, v); !isStr {
			ok = false
		} else if n, err := NormalizeOrigin(s); err != nil {
			d.errorf(kp, "%v", err)
			ok = false
		} else if l, dup := seen[n]; dup {
			d.errorf(kp, "origin %s already has an [[origin]] table at line %d", n, l)
			ok = false
		} else {
			seen[n] = d.line(kp)
			pol.Origin = n
		}
		if v, kp, found := field(ip, t, "methods"); found {
			list, isList := d.strList(kp, v)
			switch {
			case !isList:
				ok = false
			case len(list) == 0:
				d.errorf(kp, "empty; leave the key out to allow every method")
				ok = false
			}
			for j, name := range list {
				switch {
				case !slices.Contains(methodNames, name):
					d.errorf(kp.index(j), "unknown method %q", name)
					ok = false
				case !slices.Contains(pol.Methods, name):
					pol.Methods = append(pol.Methods, name)
				}
			}
		}
		if v, kp, found := field(ip, t, "pin_entry"); found {
			if s, isStr := d.str(kp, v); !isStr {
				ok = false
			} else if e := ws.PINEntry(s); !slices.Contains(pinEntries, e) {
				d.errorf(kp, "must be \"page\", \"agent\" or \"either\", not %q", s)
				ok = false
			} else {
				pol.PINEntry = e
			}
		}
		if ok {
			out = append(out, pol)
		}
	}
	return out
}

// decodeMedia decodes the [[media]] tables ts at p.
func (d *decoder) decodeMedia(p keyPath, ts []map[string]any) []agent.MediaProfile {
	var out []agent.MediaProfile
	for i, t := range ts {
		ip := p.index(i)
		d.checkKeys(ip, t, mediaKeys...)
		mp := agent.MediaProfile{CarryOverMonths: agent.DefaultCarryOverMonths}
		if v, kp, ok := field(ip, t, "name"); !ok {
			d.errorf(ip.key("name"), "required in every [[media]] table")
		} else if s, ok := d.str(kp, v); ok {
			if s == "" {
				d.errorf(kp, "must not be empty")
			}
			mp.Name = s
		}
		if v, kp, ok := field(ip, t, "description"); ok {
			mp.Description, _ = d.str(kp, v)
		}
		if v, kp, ok := field(ip, t, "legacy"); ok {
			mp.Legacy, _ = d.boolean(kp, v)
		}
		if v, kp, ok := field(ip, t, "upgrade_to"); ok {
			if s, ok := d.str(kp, v); ok {
				if s != "" && !mp.Legacy {
					d.errorf(kp, "set but legacy is not true; only legacy media are upgraded")
				}
				mp.UpgradeTo = s
			}
		}
		if v, kp, ok := field(ip, t, "carry_over_months"); ok {
			if n, ok := d.intRange(kp, v, 0, MaxCarryOverMonths); ok {
				mp.CarryOverMonths = int(n)
			}
		}
		for _, pat := range []struct {
			key string
			re  **regexp.Regexp
		}{
			{"match_manufacturer", &mp.MatchManufacturer},
			{"match_model", &mp.MatchModel},
			{"match_label", &mp.MatchLabel},
			{"match_atr", &mp.MatchATR},
		} {
			if v, kp, ok := field(ip, t, pat.key); ok {
				*pat.re = d.pattern(kp, v)
			}
		}
		out = append(out, mp)
	}
	return out
}
