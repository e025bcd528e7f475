package localtls

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRenew(t *testing.T) {
	ctx := context.Background()
	store := &SystemStore{Kind: KindDebian, Dir: t.TempDir(), UpdateCmd: []string{"true"}}
	o := Options{UpdateCmd: []string{"true"}}
	dir := t.TempDir()
	// Set up 380 days ago: 18 days left on the server certificate.
	old, err := Setup(ctx, dir, []Store{store}, o, time.Now().Add(-380*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, renewed, err := Renew(ctx, dir, o, time.Now().Add(-30*24*time.Hour)); renewed || err != nil {
		t.Errorf("Renew with 48 days left: renewed %v, %v", renewed, err)
	}

	// Without the rights, nothing changes.
	defer func(w func(string) error) { writable = w }(writable)
	writable = func(dir string) error {
		if dir == store.Dir {
			return fmt.Errorf("cannot write to %s", dir)
		}
		return nil
	}
	if _, renewed, err := Renew(ctx, dir, o, time.Now()); renewed || !errors.Is(err, ErrNoRights) {
		t.Errorf("Renew without rights: renewed %v, %v; want ErrNoRights", renewed, err)
	}
	if ok, _ := store.Contains(ctx, old.CA); !ok {
		t.Error("Renew without rights removed the CA")
	}

	writable = func(string) error { return nil }
	in, renewed, err := Renew(ctx, dir, o, time.Now())
	if !renewed || err != nil {
		t.Fatalf("Renew with 18 days left: renewed %v, %v", renewed, err)
	}
	if in.CA.Equal(old.CA) || RenewalDue(in.Cert, time.Now()) {
		t.Error("Renew kept the old CA or certificate")
	}
	if ok, _ := store.Contains(ctx, old.CA); ok {
		t.Error("the old CA is still trusted")
	}
	if ok, _ := store.Contains(ctx, in.CA); !ok {
		t.Error("the new CA is not trusted")
	}
	if len(in.State.Stores) != 1 || in.State.Stores[0] != store.Ref() {
		t.Errorf("stores after renewal: %v", in.State.Stores)
	}
}
