package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state directory: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	if _, err := d.ReadFile("throttle.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a file never written: %v, want fs.ErrNotExist", err)
	}
	for _, content := range []string{`{"a":1}`, `{}`} {
		if err := d.WriteFile("throttle.json", []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := d.ReadFile("throttle.json")
		if err != nil || string(got) != content {
			t.Errorf("read back %q, %v; want %q", got, err, content)
		}
	}
	if st, err := os.Stat(filepath.Join(path, "throttle.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	// Opening it again, as the next start does, finds it fine.
	if _, err := Open(path); err != nil {
		t.Errorf("opening the directory again: %v", err)
	}
}

// otherUser is a uid that is not the test's: nobody's, given to files with
// chown when the test runs as root.
const otherUser = 65534

// othersDir returns an existing directory that belongs to another user
// than the test's: one of its own, chowned, when the test runs as root;
// else the root directory, which is root's.
func othersDir(t *testing.T) string {
	if os.Geteuid() != 0 {
		return "/"
	}
	dir := filepath.Join(t.TempDir(), "others")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, otherUser, otherUser); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenRefusesOthersDirectories(t *testing.T) {
	worldWritable := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(worldWritable, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(worldWritable, 0o777); err != nil {
		t.Fatal(err)
	}
	groupReadable := filepath.Join(t.TempDir(), "group")
	if err := os.Mkdir(groupReadable, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(groupReadable, 0o750); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		want       []string
	}{
		{"another user's", othersDir(t), []string{"belongs to uid", "not to the agent's user"}},
		{"world-writable", worldWritable, []string{"has mode 0777, not 0700", "chmod 700 " + worldWritable}},
		{"readable by the group", groupReadable, []string{"has mode 0750, not 0700"}},
		{"a file", file, []string{"is not a directory"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path)
			if err == nil {
				t.Fatalf("Open(%s) succeeded", tt.path)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestFilesAreNotFollowedNorShared(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(d.Path(), "throttle.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadFile("throttle.json"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("reading through a symbolic link: %v, want a refusal", err)
	}
	link := filepath.Join(d.Path(), "audit.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenAppend(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("appending through a symbolic link: %v, want a refusal", err)
	}
	// Writing replaces the link, never what it points to.
	if err := d.WriteFile("throttle.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "secret" {
		t.Errorf("the link's target now holds %q", b)
	}

	t.Run("an open audit log is tightened", func(t *testing.T) {
		path := filepath.Join(d.Path(), "open.log")
		if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		f, was, err := OpenAppend(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if was != 0o666 {
			t.Errorf("OpenAppend reports the mode was %04o, want 0666", was)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("mode after OpenAppend %04o, want 0600", st.Mode().Perm())
		}
	})
	t.Run("another user's audit log is refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("making a file of another user needs root")
		}
		path := filepath.Join(d.Path(), "planted.log")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, otherUser, otherUser); err != nil {
			t.Fatal(err)
		}
		if _, _, err := OpenAppend(path); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("OpenAppend of another user's file: %v, want a refusal", err)
		}
	})
}

func TestCheckDir(t *testing.T) {
	own := t.TempDir()
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o1777); err != nil { // like /tmp
		t.Fatal(err)
	}
	if err := CheckDir(own); err != nil {
		t.Errorf("CheckDir(own directory): %v", err)
	}
	if err := CheckDir(open); err == nil || !strings.Contains(err.Error(), "others may write in it") {
		t.Errorf("CheckDir(world-writable directory): %v, want a refusal", err)
	}
	if os.Geteuid() == 0 {
		if err := CheckDir(othersDir(t)); err == nil || !strings.Contains(err.Error(), "neither the agent's user") {
			t.Errorf("CheckDir(another user's directory): %v, want a refusal", err)
		}
	}
}
