package transport

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Safe path resolution: the rule every root write, chmod, chown, mkdir,
// rename and remove on a host goes through (modelled on systemd's chase()
// with CHASE_SAFE and on OpenSSH's StrictModes).
//
// A directory chain is resolved component by component from "/" with
// lstat, never letting the kernel follow a symlink. The walk refuses:
//   - a directory or symlink owned by anyone but root and the trusted
//     users (the login user and the file's intended owner);
//   - a directory others can write (group-writable with a group other
//     than root's, or world-writable) unless it is sticky: in a sticky
//     directory such as /tmp (1777) nobody else can rename or remove
//     what vigo creates, and entries others own are refused by the
//     owner rule;
//   - an unsafe transition: leaving a node owned by a non-root user for
//     one owned by another user (including an absolute symlink owned by a
//     user, which leads to root's "/").
//
// Why check-then-act is sound over SSH, where the host-side steps run as
// separate processes: every directory the walk accepts can only be
// modified by root or the file's own owner, so once checked it cannot be
// swapped by anybody else before vigo acts in it. What the owner of the
// final directory can still do (rename vigo's temporary file, plant a
// link at its name) only moves things inside that directory, because
// vigo acts on the temporary file through its open descriptor and
// renames by name inside the resolved directory, which replaces a symlink
// and never follows it.

// NodeKind is the type of a file system node as lstat sees it.
type NodeKind uint8

const (
	NodeMissing NodeKind = iota
	NodeDir
	NodeSymlink
	NodeRegular
	NodeOther
)

// Node is what lstat says of one path.
type Node struct {
	Kind     NodeKind
	UID, GID uint32
	Mode     uint32 // Unix permission bits, with setuid/setgid/sticky (07777)
	Dev, Ino uint64
	Owner    string // owner's name, for messages ("" when unknown)
	Link     string // symlink target
}

// Lstater answers lstat for a path that has no symlink above its last
// component (the resolver only ever asks for such paths).
type Lstater interface {
	Lstat(p string) (Node, error)
}

// maxSymlinkHops bounds how many symlinks one resolution follows (the
// kernel's limit is 40).
const maxSymlinkHops = 32

// UnsafePathError is a write refused because a component of its path is
// controlled by a user vigo does not trust for it. Nothing was changed.
type UnsafePathError struct {
	Path      string // the path vigo was asked to write
	Component string // the offending component, as a path on the host
	UID       uint32 // its owner
	Owner     string // its owner's name, when known
	Kind      NodeKind
	Reason    string
}

func (e *UnsafePathError) Error() string {
	who := fmt.Sprintf("uid %d", e.UID)
	if e.Owner != "" && e.Owner != "UNKNOWN" {
		who = fmt.Sprintf("%s (uid %d)", e.Owner, e.UID)
	}
	return fmt.Sprintf("unsafe path %s: %s, owned by %s, %s", e.Path, e.Component, who, e.Reason)
}

// Trust says whose directories and symlinks a resolution may pass:
// root's always, the writer's (Self: the uid the write runs as), and
// the users in UIDs (the file's intended owner).
type Trust struct {
	Self uint32
	UIDs []uint32
}

func (t Trust) trusted(uid uint32) bool {
	if uid == 0 || uid == t.Self {
		return true
	}
	for _, u := range t.UIDs {
		if u == uid {
			return true
		}
	}
	return false
}

// Resolution is a directory resolved safely: Dir is a symlink-free path
// of an existing directory every component of which passed the checks,
// and Missing the components still to create under it, in order.
type Resolution struct {
	Dir     string
	Node    Node // lstat of Dir
	Missing []string
}

// errTooManyLinks is returned when a resolution follows more than
// maxSymlinkHops symlinks.
var errTooManyLinks = errors.New("too many levels of symbolic links")

// ResolveDir resolves the absolute directory dir under the rules above.
// forPath is the path being written, for messages. It never follows a
// symlink it was not told about by lst, and stops after maxSymlinkHops.
func ResolveDir(lst Lstater, dir, forPath string, tr Trust) (Resolution, error) {
	if !path.IsAbs(dir) {
		return Resolution{}, fmt.Errorf("resolve %s: not an absolute path", dir)
	}
	refuse := func(p string, n Node, reason string) error {
		return &UnsafePathError{Path: forPath, Component: p, UID: n.UID, Owner: n.Owner, Kind: n.Kind, Reason: reason}
	}
	// checkDir applies the directory rules to n at p, entered from a node
	// owned by prev.
	checkDir := func(p string, n Node, prev uint32) error {
		switch {
		case !tr.trusted(n.UID):
			return refuse(p, n, "a directory owned by another user")
		case prev != 0 && n.UID != prev:
			return refuse(p, n, fmt.Sprintf("entered from a node owned by uid %d (unsafe transition)", prev))
		case n.Mode&0o1000 == 0 && n.Mode&0o002 != 0:
			return refuse(p, n, fmt.Sprintf("a world-writable directory (mode %04o) without the sticky bit", n.Mode))
		case n.Mode&0o1000 == 0 && n.Mode&0o020 != 0 && n.GID != 0:
			return refuse(p, n, fmt.Sprintf("a directory writable by group %d (mode %04o)", n.GID, n.Mode))
		}
		return nil
	}
	root, err := lst.Lstat("/")
	if err != nil {
		return Resolution{}, err
	}
	if root.Kind != NodeDir {
		return Resolution{}, refuse("/", root, "not a directory")
	}
	if err := checkDir("/", root, 0); err != nil {
		return Resolution{}, err
	}
	cur, curNode := "/", root
	prev := root.UID // owner of the node the walk stands on
	todo := splitPath(dir)
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			// cur is symlink-free and every prefix of it was checked.
			// Going up is a transition too: out of a user's directory into
			// root's is refused.
			if cur != "/" {
				up := path.Dir(cur)
				n, err := lst.Lstat(up)
				if err != nil {
					return Resolution{}, err
				}
				if n.Kind != NodeDir {
					return Resolution{}, refuse(up, n, "not a directory")
				}
				if err := checkDir(up, n, prev); err != nil {
					return Resolution{}, err
				}
				cur, curNode, prev = up, n, n.UID
			}
			continue
		}
		next := path.Join(cur, c)
		n, err := lst.Lstat(next)
		if err != nil {
			return Resolution{}, err
		}
		switch n.Kind {
		case NodeMissing:
			missing := []string{c}
			for _, m := range todo {
				switch m {
				case ".":
				case "..":
					return Resolution{}, fmt.Errorf("resolve %s: %s does not exist", forPath, next)
				default:
					missing = append(missing, m)
				}
			}
			if curNode.UID != 0 && curNode.UID != tr.Self {
				// A directory of the writer's inside another user's would be
				// an unsafe transition for every later write.
				return Resolution{}, refuse(cur, curNode, fmt.Sprintf("a user's directory: vigo creates no directories in it (%s is missing)", next))
			}
			return Resolution{Dir: cur, Node: curNode, Missing: missing}, nil
		case NodeDir:
			if err := checkDir(next, n, prev); err != nil {
				return Resolution{}, err
			}
			cur, curNode, prev = next, n, n.UID
		case NodeSymlink:
			if !tr.trusted(n.UID) {
				return Resolution{}, refuse(next, n, "a symlink owned by another user")
			}
			if prev != 0 && n.UID != prev {
				return Resolution{}, refuse(next, n, fmt.Sprintf("a symlink entered from a node owned by uid %d (unsafe transition)", prev))
			}
			if hops++; hops > maxSymlinkHops {
				return Resolution{}, fmt.Errorf("resolve %s: %s: %w", forPath, next, errTooManyLinks)
			}
			if n.Link == "" {
				return Resolution{}, fmt.Errorf("resolve %s: %s: empty symlink", forPath, next)
			}
			todo = append(splitPath(n.Link), todo...)
			prev = n.UID
			if path.IsAbs(n.Link) {
				// Back to "/", which is root's: from a user's symlink that
				// is an unsafe transition.
				if prev != 0 && root.UID != prev {
					return Resolution{}, refuse(next, n, "an absolute symlink owned by a user (unsafe transition to /)")
				}
				cur, curNode, prev = "/", root, root.UID
			}
		default:
			return Resolution{}, refuse(next, n, "not a directory")
		}
	}
	return Resolution{Dir: cur, Node: curNode}, nil
}

// splitPath splits p into its non-empty components.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// lstatCache remembers what an Lstater said, so that one resolution asks
// the host about each path once.
type lstatCache struct {
	known map[string]Node
	miss  func(p string) (Node, error)
}

func (l *lstatCache) Lstat(p string) (Node, error) {
	if n, ok := l.known[p]; ok {
		return n, nil
	}
	n, err := l.miss(p)
	if err != nil {
		return Node{}, err
	}
	l.known[p] = n
	return n, nil
}
