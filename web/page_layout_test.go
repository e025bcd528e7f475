package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/agent"
)

// brokenWords lists the words of the page that the browser broke across
// lines: each word of a visible text node whose box spans two lines.
// Chinese, which breaks between any two characters, is left out, as are
// ids (24 characters or more), which may break anywhere.
const brokenWords = `(() => {
	const broken = [];
	const walk = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
	for (let n; (n = walk.nextNode()); ) {
		if (!n.parentElement.checkVisibility()) continue;
		for (const m of n.data.matchAll(/[\p{L}\p{N}]+(?:[-.'’][\p{L}\p{N}]+)*/gu)) {
			if (/\p{Script=Han}/u.test(m[0]) || m[0].length >= 24) continue;
			const r = document.createRange();
			r.setStart(n, m.index);
			r.setEnd(n, m.index + m[0].length);
			const lines = new Set([...r.getClientRects()].filter((b) => b.width > 0).map((b) => Math.round(b.top)));
			if (lines.size > 1) broken.push(m[0] + " in <" + n.parentElement.tagName.toLowerCase() + " class=" + n.parentElement.className + ">");
		}
	}
	return broken;
})()`

// TestPageLayout shows every task and form of the cards at 1200 and 360 px
// in each language: at 360 px nothing scrolls sideways (the Russian legacy
// badge did), and no word or date breaks across lines at 1200 px
// ("Осталос/ь", "2026-12-/22" did). The screenshots go to the fixture's
// output directory (TOKENAGENT_TESTOUT to keep them).
func TestPageLayout(t *testing.T) {
	requireCJKFont(t)
	f, _ := newPageFixture(t, false)
	if err := f.env.InitToken("carol", soPIN, userPIN); err != nil {
		t.Fatal(err)
	}
	alice := f.tokenID("alice")
	// A renewal waiting for its certificate, beside the one 02 asks for.
	call := agent.Call{Origin: agent.LocalOrigin, Token: alice, PIN: []byte(userPIN)}
	if _, err := f.agent.PrepareRenewal(context.Background(), call, "01", true, agent.KeySpec{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = chromedp.Do(f.ctx, chromedp.EmulateViewport(1100, 900)) }()
	for _, width := range []int64{1200, 360} {
		for _, lang := range []string{"en", "ru", "zh"} {
			t.Run(fmt.Sprintf("%d %s", width, lang), func(t *testing.T) {
				f.t = t
				if err := chromedp.Do(f.ctx, chromedp.EmulateViewport(width, 900)); err != nil {
					t.Fatal(err)
				}
				f.open(lang)
				f.wait(`document.querySelector('.task[data-task="pending"]') && document.querySelector('.task[data-task="enrol"]') && document.querySelector('.task[data-task="media"] dd')`)
				// Everything open: the forms, the request, the renewal's PIN.
				eval[bool](f, `(() => { document.querySelectorAll("details").forEach((d) => (d.open = true));
					document.querySelectorAll(".task button.cta").forEach((b) => b.click()); return true; })()`)
				if w := eval[[]int](f, `[document.documentElement.scrollWidth, innerWidth]`); w[0] > w[1] {
					t.Errorf("the page is %d px wide in a %d px window: %q", w[0], w[1], eval[[]string](f, `[...document.querySelectorAll("main *")].filter((e) => e.getBoundingClientRect().right > innerWidth).map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right) + " " + (e.closest("[data-task], details")?.className || "") + "/" + (e.closest("[data-task]")?.dataset.task || "") + " " + (e.name || "")).slice(0, 30)`))
				}
				if width == 1200 {
					if broken := eval[[]string](f, brokenWords); len(broken) != 0 {
						t.Errorf("words broken across lines: %q", broken)
					}
				}
				png, err := chromedp.Run(f.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				name := filepath.Join(f.out, fmt.Sprintf("selfservice-%d-%s.png", width, lang))
				if err := os.WriteFile(name, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot %s", name)
			})
		}
	}
}
