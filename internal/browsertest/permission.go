package browsertest

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// LoopbackPermission is the name of the permission a public page needs to
// reach loopback, in Chromium 145 and later.
const LoopbackPermission = "loopback-network"

// SetPermission sets the loopback-network permission of origin in the
// browser of ctx (CDP Browser.setPermission), as a user's answer or the
// site settings would. Frames inside origin's pages get it too, whatever
// their allow attribute says: for the iframe rules, use a managed policy.
func SetPermission(ctx context.Context, origin string, setting browser.PermissionSetting) error {
	params := browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: LoopbackPermission},
		Setting:    setting,
		Origin:     origin,
	}
	if _, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetPermission, params); err != nil {
		return fmt.Errorf("Browser.setPermission %s %s: %w", origin, setting, err)
	}
	return nil
}
