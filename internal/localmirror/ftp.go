package localmirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	ftpserver "goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"
)

// prepareTreeDir makes the server keep its tree on disk too, for servers
// that serve files.
func (s *Server) prepareTreeDir() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.treeDir != "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.net.dir, "trees"), 0o755); err != nil {
		return err
	}
	s.treeDir = filepath.Join(s.net.dir, "trees", s.spec.Name)
	return s.materialize(s.tree)
}

// serveFTP starts an anonymous, read-only FTP server (goftp.io/server,
// in process) on the tree and returns its port. A Hang server accepts and
// never greets.
func (s *Server) serveFTP() (int, error) {
	if err := s.prepareTreeDir(); err != nil {
		return 0, err
	}
	l4, l6, port, err := s.listen()
	if err != nil || l4 == nil {
		return port, err
	}
	if s.behaviour == LeakGarbage {
		// A refusal as the greeting, with the secret as its text.
		s.acceptAndSay("530 "+Secret+"\r\n", l4, l6)
		return port, nil
	}
	for _, l := range []net.Listener{l4, l6} {
		if l == nil {
			continue
		}
		if s.behaviour == Hang {
			s.net.onClose(func() { l.Close() })
			go s.acceptAndHang(l)
			continue
		}
		drv, err := file.NewDriver(s.treeDir)
		if err != nil {
			return 0, err
		}
		srv, err := ftpserver.NewServer(&ftpserver.Options{
			Name:   "localmirror",
			Driver: readOnly{drv},
			Auth:   anonymous{},
			Perm:   ftpserver.NewSimplePerm("root", "root"),
			Logger: &ftpserver.DiscardLogger{},
		})
		if err != nil {
			return 0, err
		}
		// Not srv.Shutdown, which races with Serve: closing the listener
		// ends Serve, and Close closes the sessions' connections.
		tl := trackingListener{l, s.net}
		go srv.Serve(tl)
		s.net.onClose(func() { l.Close() })
	}
	return port, nil
}

func (s *Server) acceptAndHang(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !s.net.track(c) {
			return
		}
		go func() {
			defer s.net.untrack(c)
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

// anonymous accepts any user name and password: an anonymous FTP mirror.
type anonymous struct{}

func (anonymous) CheckPasswd(*ftpserver.Context, string, string) (bool, error) { return true, nil }

// readOnly refuses every change, as a public mirror does.
type readOnly struct{ ftpserver.Driver }

var errReadOnly = errors.New("read-only mirror")

func (readOnly) DeleteDir(*ftpserver.Context, string) error      { return errReadOnly }
func (readOnly) DeleteFile(*ftpserver.Context, string) error     { return errReadOnly }
func (readOnly) Rename(*ftpserver.Context, string, string) error { return errReadOnly }
func (readOnly) MakeDir(*ftpserver.Context, string) error        { return errReadOnly }
func (readOnly) PutFile(*ftpserver.Context, string, io.Reader, int64) (int64, error) {
	return 0, errReadOnly
}

// serveRsync starts rsync daemons (the real rsync program) for the tree,
// one per address, and returns their port.
func (s *Server) serveRsync() (int, error) {
	if err := s.prepareTreeDir(); err != nil {
		return 0, err
	}
	l4, l6, port, err := s.listen()
	if err != nil || l4 == nil {
		return port, err
	}
	if s.behaviour == LeakGarbage {
		// A daemon's greeting, then an error with the secret as its
		// text: the rsync client prints it.
		s.acceptAndSay("@RSYNCD: 31.0\n@ERROR: "+Secret+"\n", l4, l6)
		return port, nil
	}
	if s.behaviour == Hang {
		for _, l := range []net.Listener{l4, l6} {
			if l != nil {
				s.net.onClose(func() { l.Close() })
				go s.acceptAndHang(l)
			}
		}
		return port, nil
	}
	prog, err := exec.LookPath(s.net.opts.Rsync)
	if err != nil {
		l4.Close()
		if l6 != nil {
			l6.Close()
		}
		return 0, fmt.Errorf("rsync mirrors need the rsync program: %w", err)
	}
	conf := filepath.Join(s.net.dir, s.spec.Name+"-rsyncd.conf")
	var b strings.Builder
	b.WriteString("use chroot = no\nmax connections = 0\n")
	if os.Geteuid() == 0 {
		b.WriteString("uid = 0\ngid = 0\n")
	}
	fmt.Fprintf(&b, "log file = %s\n\n[pub]\npath = %s\nread only = yes\n",
		filepath.Join(s.net.dir, s.spec.Name+"-rsyncd.log"), filepath.Join(s.treeDir, "pub"))
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return 0, err
	}
	for _, l := range []net.Listener{l4, l6} {
		if l == nil {
			continue
		}
		addr := l.Addr().(*net.TCPAddr).IP.String()
		l.Close() // the daemon binds the port itself
		cmd := exec.Command(prog, "--daemon", "--no-detach", "--config="+conf, "--address="+addr, fmt.Sprintf("--port=%d", port))
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		s.net.onClose(func() {
			cmd.Process.Kill()
			<-done
		})
		if err := waitListening(net.JoinHostPort(addr, fmt.Sprint(port)), done); err != nil {
			return 0, fmt.Errorf("rsync daemon on %s: %w", addr, err)
		}
	}
	return port, nil
}

// waitListening waits until something accepts connections at addr.
func waitListening(addr string, died <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-died:
			return errors.New("exited at start")
		case <-ctx.Done():
			return fmt.Errorf("not listening after 10s: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// trackingListener hands every accepted connection to the network, which
// closes it on Close.
type trackingListener struct {
	net.Listener
	n *Network
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.n.track(c) {
		return nil, net.ErrClosed
	}
	return c, nil
}
