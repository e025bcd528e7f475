package web_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// The tests of this file follow what a token's card asks of the person
// (its tasks) through real Chromium, on the agent over SoftHSM.

// task is the JavaScript of the first task of kind name on token id's
// card whose other attributes match attrs (e.g. `[data-cert="02"]`).
func task(id, name, attrs string) string {
	return fmt.Sprintf(`%s.querySelector('.task[data-task="%s"]%s')`, card(id), name, attrs)
}

// fill sets the named inputs of form (a class) inside the element scope
// (booleans check boxes) and submits it.
func (f *pageFixture) fill(scope, form string, values map[string]any) {
	f.t.Helper()
	eval[bool](f, fmt.Sprintf(`(() => { const form = %s.querySelector("form.%s");
		for (const [k, v] of Object.entries(%s)) { if (typeof v === "boolean") form.elements[k].checked = v; else form.elements[k].value = v; }
		form.requestSubmit(); return true; })()`, scope, form, mustJSON(f.t, values)))
}

// cardMessage is the JavaScript of the message line of token id's card,
// which says how an action whose task went away ended.
func cardMessage(id string) string {
	return card(id) + `.querySelector(".card-msg").textContent`
}

// tasksOf lists the tasks of token id's card in order, as kind:cert/key.
func (f *pageFixture) tasksOf(id string) []string {
	f.t.Helper()
	return eval[[]string](f, `[...`+card(id)+`.querySelectorAll(".tasks > .task")].map((e) => e.dataset.task + ":" + (e.dataset.cert || e.dataset.key || e.dataset.kind || ""))`)
}

// issue has the test CA issue a certificate for the CSR in PEM, valid for a
// year, and returns it in PEM.
func (f *pageFixture) issue(csr string) string {
	f.t.Helper()
	cert, err := f.ca.IssueRequest([]byte(csr), time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

// parseCSR checks that csr is a PEM request signed by its key and returns it.
func parseCSR(t *testing.T, csr string) *x509.CertificateRequest {
	t.Helper()
	block, _ := pem.Decode([]byte(csr))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("not a PEM certificate request: %q", csr)
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	return req
}

// keyIDs lists the CKA_IDs (lowercase hex) of the key objects, private and
// public, that pkcs11-tool sees on the token labelled label after a login.
func keyIDs(t *testing.T, env *softhsm.Env, label string) []string {
	t.Helper()
	out, err := env.P11Tool([]string{userPIN}, "--token-label", label, "--login", "--pin", userPIN, "--list-objects")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	key := false
	for _, line := range strings.Split(out, "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case strings.Contains(line, " Object;"):
			key = strings.HasPrefix(line, "Private Key Object") || strings.HasPrefix(line, "Public Key Object")
		case key && strings.HasPrefix(trimmed, "ID:"):
			ids = append(ids, strings.TrimSpace(strings.TrimPrefix(trimmed, "ID:")))
		}
	}
	return ids
}

// TestPageRenewalAcrossRestart renews the expiring certificate from the
// call to action its card leads with, then reloads the page and restarts
// the agent (same state directory) before the issuer's certificate comes,
// and completes the renewal from the card the pending renewal still has.
func TestPageRenewalAcrossRestart(t *testing.T) {
	f, _ := newPageFixture(t, false)
	alice := f.tokenID("alice")
	f.open("en")
	renew := task(alice, "renew", `[data-cert="02"]`)
	f.wait(renew)

	t.Run("renew now leads", func(t *testing.T) {
		f.t = t
		// Only the expiring certificate (02) asks for renewal; 01 has 400
		// days left, and legacy-bob's 20 months.
		if got := f.tasksOf(alice); !slices.Equal(got, []string{"renew:02"}) {
			t.Errorf("alice's tasks: %q, want the renewal of 02 alone", got)
		}
		if got := f.tasksOf(f.tokenID("legacy-bob")); !slices.Equal(got, []string{"media:"}) {
			t.Errorf("legacy-bob's tasks: %q", got)
		}
		date := time.Now().AddDate(0, 0, 10).Add(time.Hour).UTC().Format(time.DateOnly)
		if got, want := eval[string](f, renew+`.querySelector("strong").textContent`), "“Alice (old)” expires in 10 days ("+date+")"; got != want {
			t.Errorf("renewal titled %q, want %q", got, want)
		}
	})

	t.Run("signing warns first", func(t *testing.T) {
		f.t = t
		sign := card(alice) + `.querySelector("details.sign")`
		eval[bool](f, sign+`.open = true`)
		// The form offers the valid certificate first, without a warning.
		if got := eval[string](f, sign+`.querySelector("select").value`); got != "01" {
			t.Errorf("the sign form offers certificate %q first, want 01", got)
		}
		if eval[bool](f, sign+`.querySelector(".expiry-warning") !== null`) {
			t.Error("a warning for the valid certificate")
		}
		eval[bool](f, `(() => { const s = `+sign+`.querySelector("select"); s.value = "02"; s.dispatchEvent(new Event("change")); return true; })()`)
		warning := sign + `.querySelector('.expiry-warning[data-status="expiring"]')`
		f.wait(warning)
		if got := eval[string](f, warning+`.firstChild.textContent`); !strings.HasPrefix(got, "This certificate expires in 10 days (") {
			t.Errorf("the warning says %q", got)
		}
		// Its Renew now opens the renewal of that certificate.
		eval[bool](f, warning+`.querySelector("button").click() || true`)
		f.wait(`!` + renew + `.querySelector("form.renew-now").hidden && document.activeElement === ` + renew + `.querySelector("input[name=pin]")`)
	})

	var key, csr string
	t.Run("started", func(t *testing.T) {
		f.t = t
		f.fill(renew, "renew-now", map[string]any{"pin": userPIN})
		pending := task(alice, "pending", "")
		f.wait(pending + ` && ` + pending + `.querySelector("textarea.csr").value.startsWith("-----BEGIN CERTIFICATE REQUEST-----") && !` + renew)
		key = eval[string](f, pending+`.dataset.key`)
		csr = eval[string](f, pending+`.querySelector("textarea.csr").value`)
		if got := parseCSR(t, csr).Subject.CommonName; got != "Alice (old)" {
			t.Errorf("CSR for %q", got)
		}
		if got := eval[string](f, cardMessage(alice)); !strings.HasPrefix(got, "The new key and the request are ready.") {
			t.Errorf("the card says %q", got)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		if got, want := eval[string](f, pending+`.querySelector("strong").textContent`), "Renewal of “Alice (old)” started on "+today; got != want {
			t.Errorf("pending renewal titled %q, want %q", got, want)
		}
		if !slices.Contains(keyIDs(t, f.env, "alice"), key) {
			t.Errorf("the new key %s is not on the token", key)
		}
	})

	pending := task(alice, "pending", `[data-key="`+key+`"]`)
	hasCSR := pending + `.querySelector("textarea.csr").value === ` + mustJSON(t, csr)
	t.Run("survives a reload and a restart", func(t *testing.T) {
		f.t = t
		f.open("en")
		f.wait(hasCSR)
		f.restart()
		f.open("en")
		f.wait(hasCSR)
		if got := f.tasksOf(alice); !slices.Equal(got, []string{"pending:" + key}) {
			t.Errorf("alice's tasks after the restart: %q", got)
		}
	})

	t.Run("completed", func(t *testing.T) {
		f.t = t
		f.fill(pending, "complete", map[string]any{"certificate": f.issue(csr), "removeOld": true, "pin": userPIN})
		f.wait(cardMessage(alice) + ` === "The new certificate is stored on the token." && !` + card(alice) + `.querySelector(".task")`)
		f.wait(`(() => { const rows = [...` + card(alice) + `.querySelectorAll("tr[data-cert]")];
			return rows.length === 2 && !rows.some((r) => r.dataset.cert === "02") && rows.every((r) => r.querySelector("[data-status]").dataset.status === "valid"); })()`)
		left, err := f.agent.PendingRenewals(context.Background(), alice)
		if err != nil || len(left) != 0 {
			t.Errorf("pending renewals after completing: %+v, %v", left, err)
		}
	})
}

// TestPageRenewalDiscard starts a renewal from the other actions and
// discards it from its pending card: the new key is gone from the token.
func TestPageRenewalDiscard(t *testing.T) {
	f, _ := newPageFixture(t, false)
	alice := f.tokenID("alice")
	f.open("en")
	before := keyIDs(t, f.env, "alice")
	f.submit(alice, "renew-prepare", map[string]any{"cert": "01", "pin": userPIN})
	pending := task(alice, "pending", "")
	f.wait(pending + `?.querySelector("textarea.csr")`)
	key := eval[string](f, pending+`.dataset.key`)
	if ids := keyIDs(t, f.env, "alice"); !slices.Contains(ids, key) || slices.Contains(before, key) {
		t.Fatalf("the renewal's key %s: before %q, after %q", key, before, ids)
	}
	// The pending renewal of 01 comes before the renewal 02 asks for.
	if got := f.tasksOf(alice); !slices.Equal(got, []string{"pending:" + key, "renew:02"}) {
		t.Errorf("alice's tasks: %q", got)
	}

	eval[bool](f, pending+`.querySelector("details.discard").open = true`)
	f.fill(pending, "discard", map[string]any{"pin": userPIN})
	f.wait(cardMessage(alice) + ` === "Discarded: the new key was deleted from the token." && !` + pending)
	if ids := keyIDs(t, f.env, "alice"); slices.Contains(ids, key) || !slices.Equal(ids, before) {
		t.Errorf("key objects after discarding: %q, want %q", ids, before)
	}
	if left, err := f.agent.PendingRenewals(context.Background(), alice); err != nil || len(left) != 0 {
		t.Errorf("pending renewals after discarding: %+v, %v", left, err)
	}
	if got := f.tasksOf(alice); !slices.Equal(got, []string{"renew:02"}) {
		t.Errorf("alice's tasks after discarding: %q", got)
	}
}

// TestPageEnrolment enrols a token without certificates: a key and a CSR
// from its card, the key still waiting after a reload (keys.list), its
// request made again, and the issued certificate stored.
func TestPageEnrolment(t *testing.T) {
	f, _ := newPageFixture(t, false)
	if err := f.env.InitToken("carol", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	carol := f.tokenID("carol")
	f.open("en")
	f.wait(task(carol, "enrol", ""))
	// Nothing to sign with or renew, no wrong PIN yet: only the PIN change.
	if got := eval[[]string](f, `[...`+card(carol)+`.querySelectorAll(".more > details")].map((d) => d.className)`); !slices.Equal(got, []string{"change"}) {
		t.Errorf("carol's other actions: %q", got)
	}

	f.fill(task(carol, "enrol", ""), "enrol", map[string]any{"commonName": "Carol Example", "algorithm": "EC-P256", "pin": userPIN})
	waiting := task(carol, "key", "")
	f.wait(waiting + `?.querySelector("textarea.csr") && !` + task(carol, "enrol", ""))
	key := eval[string](f, waiting+`.dataset.key`)
	csr := eval[string](f, waiting+`.querySelector("textarea.csr").value`)
	if got := parseCSR(t, csr).Subject.CommonName; got != "Carol Example" {
		t.Errorf("CSR for %q", got)
	}

	// After a reload the key still waits; the agent keeps no enrolment's
	// request, so the page offers to make it again.
	f.open("en")
	waiting = task(carol, "key", `[data-key="`+key+`"]`)
	f.wait(waiting + `?.querySelector("details.remake")`)
	eval[bool](f, waiting+`.querySelector("details.remake").open = true`)
	f.fill(waiting, "remake", map[string]any{"commonName": "Carol Example", "pin": userPIN})
	f.wait(waiting + `.querySelector("textarea.csr")?.value.startsWith("-----BEGIN CERTIFICATE REQUEST-----")`)
	again := eval[string](f, waiting+`.querySelector("textarea.csr").value`)
	if a, b := parseCSR(t, again), parseCSR(t, csr); a.Subject.CommonName != "Carol Example" || !a.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(b.PublicKey) {
		t.Errorf("the request made again is for %v, another key or name", a.Subject)
	}

	f.fill(waiting, "complete", map[string]any{"certificate": f.issue(csr), "pin": userPIN})
	f.wait(cardMessage(carol) + ` === "The new certificate is stored on the token." && ` + card(carol) + `.querySelector('tr[data-cert="` + key + `"] [data-status="valid"]')`)
	if got := f.tasksOf(carol); len(got) != 0 {
		t.Errorf("carol's tasks after enrolling: %q", got)
	}
}

// TestPageThrottle enters three wrong user PINs: the fourth try counts down
// the agent's wait with the forms taking the user PIN disabled, and the
// unlock with the SO PIN, which the agent throttles apart, works at once.
func TestPageThrottle(t *testing.T) {
	f, _ := newPageFixture(t, false)
	alice := f.tokenID("alice")
	f.open("en")
	msg := f.message(alice, "change")

	t.Run("wrong PIN", func(t *testing.T) {
		f.t = t
		if eval[bool](f, card(alice)+`.querySelector("details.unlock") !== null`) {
			t.Error("the unlock is offered before any wrong PIN")
		}
		for i := range 3 {
			f.submit(alice, "change", map[string]any{"oldPin": "0000", "newPin": "4321", "newPin2": "4321"})
			f.wait(fmt.Sprintf(`%s.textContent.startsWith("Wrong PIN. ") && %s.dataset.n !== "%d" && (%s.dataset.n = "%d")`, msg, msg, i, msg, i))
			if i == 0 {
				// SoftHSM reports count-low after one wrong PIN: the badge
				// says a wrong PIN was entered, no more.
				f.wait(card(alice) + `.querySelector('[data-pin="countLow"]')?.textContent === "PIN: a wrong PIN was entered" && ` +
					card(alice) + `.querySelector("details.unlock")`)
			}
		}
	})

	count := task(alice, "throttle", `[data-kind="user"]`) + `.querySelector(".count")`
	var first int
	t.Run("countdown", func(t *testing.T) {
		f.t = t
		f.submit(alice, "change", map[string]any{"oldPin": userPIN, "newPin": "4321", "newPin2": "4321"})
		f.wait(count + `?.dataset.seconds > 0 && ` + msg + `.dataset.countdown === "user"`)
		// What the countdown says is errorMessage's sentence for the seconds
		// left, read with them in one go.
		shown := eval[[]string](f, `(async () => { const c = `+count+`; const [n, text] = [c.dataset.seconds, c.textContent];
			const { errorMessage } = await import("/tokenagent.js");
			return [n, text, errorMessage({ reason: "RATE_LIMITED", data: { retryAfterSeconds: Number(n) } }, "en")]; })()`)
		first, _ = strconv.Atoi(shown[0])
		if first < 50 || first > 60 {
			t.Errorf("the countdown starts at %d s", first)
		}
		if !strings.HasPrefix(shown[1], "Too many wrong PINs were entered for this token. Try again in ") || shown[1] != shown[2] {
			t.Errorf("the countdown says %q, want %q", shown[1], shown[2])
		}
		buttons := eval[map[string]bool](f, `Object.fromEntries([...`+card(alice)+`.querySelectorAll("form")].filter((f) => f.isConnected).map((f) => [f.className, f.querySelector("button[type=submit]").disabled]))`)
		for form, disabled := range buttons {
			if want := form != "unlock"; disabled != want {
				t.Errorf("form %s: submit disabled %v, want %v", form, disabled, want)
			}
		}
		if len(buttons) < 4 || !slices.Contains(mapKeys(buttons), "unlock") {
			t.Errorf("forms on the card: %v", buttons)
		}
		// A submit the page should not make: no call reaches the agent.
		audited := strings.Count(f.audit.String(), `"method":"pin.change"`)
		f.submit(alice, "change", map[string]any{"oldPin": userPIN, "newPin": "4321", "newPin2": "4321"})
		f.wait(fmt.Sprintf(`%s.dataset.seconds < %d`, count, first))
		if now := strings.Count(f.audit.String(), `"method":"pin.change"`); now != audited {
			t.Errorf("a throttled form sent pin.change: %d audit lines, %d before", now, audited)
		}
	})

	t.Run("SO unlock right after", func(t *testing.T) {
		f.t = t
		f.submit(alice, "unlock", map[string]any{"soPin": soPIN, "newPin": "5555", "newPin2": "5555"})
		f.wait(f.message(alice, "unlock") + `.textContent === "The PIN was unlocked and set."`)
		// The user PIN's wait goes on.
		if !eval[bool](f, count+`?.dataset.seconds > 0 && `+card(alice)+`.querySelector("form.change button").disabled`) {
			t.Error("the user PIN's countdown ended with the unlock")
		}
	})
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
