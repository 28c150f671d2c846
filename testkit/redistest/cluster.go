package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
)

// ClusterAddrs returns the seed addresses of a Redis Cluster: those in
// CHAT_TEST_REDIS_CLUSTER (comma-separated host:port, as .ci/run sets it) when
// set, else those of a cluster started for this test (StartCluster).
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	var addrs []string
	for _, a := range strings.Split(os.Getenv("CHAT_TEST_REDIS_CLUSTER"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		return addrs
	}
	return StartCluster(t).Addrs
}

// Cluster is a private Redis Cluster of three primaries, each with one
// replica, on free loopback ports; stopped when the test ends.
type Cluster struct {
	Addrs []string // all six nodes; which are primaries is up to redis-cli, and changes on failover

	t       testing.TB
	nodes   map[string]*Server
	clients map[string]*redis.Client // one per node, for asking it directly
}

// clusterNodeTimeout is short so that a stopped primary's replica takes over
// within seconds; on loopback nothing is slow enough to be mistaken for down.
const clusterNodeTimeout = "1000"

// StartCluster runs a Redis Cluster of six redis-server processes (three
// primaries, three replicas) until the test ends, and returns once every node
// sees the cluster ok and every replica is linked to its primary. Nodes keep
// nothing on disk.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			testkit.Require(t, "cluster", bin+" is not on PATH (apt-get install redis-server redis-tools)")
		}
	}
	c := &Cluster{t: t, nodes: map[string]*Server{}, clients: map[string]*redis.Client{}}
	t.Cleanup(func() {
		for _, rc := range c.clients {
			rc.Close()
		}
	})
	for i := range 6 {
		s, err := c.startNode()
		if err != nil {
			c.fatalf("", "start cluster node %d: %v", i+1, err)
		}
		c.Addrs = append(c.Addrs, s.Addr)
		c.nodes[s.Addr] = s
		c.clients[s.Addr] = nodeClient(s.Addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "1", "--cluster-yes")
	cli := exec.CommandContext(ctx, "redis-cli", args...)
	cli.Env = append(os.Environ(), "TERM=dumb") // else its report is in colour
	out, err := cli.CombinedOutput()
	if err != nil {
		c.fatalf(string(out), "redis-cli --cluster create: %v", err)
	}
	// redis-cli returns once the nodes agree on the slots; replicas may still
	// be syncing, and some nodes may not yet have voted the state ok.
	if err := c.poll(ctx, c.ready); err != nil {
		c.fatalf(string(out), "cluster not ready within 30s: %v", err)
	}
	return c
}

// StartOneNodeCluster runs one redis-server in cluster mode serving every
// slot, with extra arguments: the smallest cluster, for instance with
// commands renamed away to act as an older server.
func StartOneNodeCluster(t testing.TB, extra ...string) *Server {
	t.Helper()
	c := &Cluster{t: t}
	s, err := c.startNode(extra...)
	if err != nil {
		t.Fatalf("start cluster node: %v", err)
	}
	rc := nodeClient(s.Addr)
	defer rc.Close()
	serveAllSlots(t, rc)
	return s
}

// serveAllSlots gives the lone node rc talks to every slot and waits until
// it says the cluster is ok.
func serveAllSlots(t testing.TB, rc *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := rc.Options().Addr
	if err := rc.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE on %s: %v", addr, err)
	}
	c := &Cluster{t: t}
	err := c.poll(ctx, func(ctx context.Context) error {
		info, err := rc.ClusterInfo(ctx).Result()
		if err == nil && infoField(info, "cluster_state") != "ok" {
			err = fmt.Errorf("cluster_state:%s", infoField(info, "cluster_state"))
		}
		return err
	})
	if err != nil {
		t.Fatalf("one-node cluster on %s: %v", addr, err)
	}
}

// startNode starts one cluster node on a free port, with its cluster bus on
// another (--cluster-port, so that the bus needs no port+10000 free), trying
// again with other ports if either turns out to be taken.
func (c *Cluster) startNode(extra ...string) (*Server, error) {
	var err error
	for range 5 {
		var ports []string
		if ports, err = freePorts(2); err != nil {
			continue
		}
		s := &Server{t: c.t, dir: c.t.TempDir(), Addr: "127.0.0.1:" + ports[0], args: []string{
			"--cluster-enabled", "yes", "--cluster-port", ports[1],
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", clusterNodeTimeout,
			"--save", "", "--appendonly", "no",
			// A primary otherwise waits 5s for more replicas before it
			// syncs the first one; here each has only one.
			"--repl-diskless-sync-delay", "0",
		}}
		s.args = append(s.args, extra...)
		if err = s.start(); err != nil {
			continue
		}
		// start() only saw something answer PING on the port: make sure it
		// is this process, not another redis-server that had the port.
		if err = ownedBy(s); err != nil {
			s.Stop()
			continue
		}
		c.t.Cleanup(s.Stop)
		return s, nil
	}
	return nil, err
}

// ownedBy says whether s.Addr is served by s's own process.
func ownedBy(s *Server) error {
	rc := nodeClient(s.Addr)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := rc.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("INFO server on %s: %w", s.Addr, err)
	}
	if pid := infoField(info, "process_id"); pid != strconv.Itoa(s.cmd.Process.Pid) {
		return fmt.Errorf("%s is served by process %s, not ours (%d)", s.Addr, pid, s.cmd.Process.Pid)
	}
	return nil
}

// ready says why the cluster is not ready yet, or nil.
func (c *Cluster) ready(ctx context.Context) error {
	replicas := 0
	for _, addr := range c.Addrs {
		rc := c.clients[addr]
		info, err := rc.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("CLUSTER INFO on %s: %w", addr, err)
		}
		if st, n := infoField(info, "cluster_state"), infoField(info, "cluster_known_nodes"); st != "ok" || n != "6" {
			return fmt.Errorf("%s: cluster_state:%s, cluster_known_nodes:%s", addr, st, n)
		}
		repl, err := rc.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("INFO replication on %s: %w", addr, err)
		}
		if infoField(repl, "role") == "slave" {
			if link := infoField(repl, "master_link_status"); link != "up" {
				return fmt.Errorf("%s: master_link_status:%s", addr, link)
			}
			replicas++
		}
	}
	if replicas != 3 {
		return fmt.Errorf("%d replicas, want 3", replicas)
	}
	return nil
}

// PrimaryOf returns the address of the node that currently serves key's slot
// as primary. After a failover, call WaitPrimary first: until the new primary
// has won, nobody serves the slot and PrimaryOf fails.
func (c *Cluster) PrimaryOf(ctx context.Context, key string) (string, error) {
	slot := int64(-1)
	var last error = errors.New("no node answered")
	for _, addr := range c.Addrs {
		rc := c.clients[addr]
		if slot < 0 {
			s, err := rc.ClusterKeySlot(ctx, key).Result()
			if err != nil {
				last = fmt.Errorf("CLUSTER KEYSLOT on %s: %w", addr, err)
				continue // a stopped node: ask another
			}
			slot = s
		}
		shards, err := rc.ClusterShards(ctx).Result()
		if err != nil {
			last = fmt.Errorf("CLUSTER SHARDS on %s: %w", addr, err)
			continue
		}
		primary := slotPrimary(shards, slot)
		if primary == "" {
			last = fmt.Errorf("%s knows no primary of slot %d", addr, slot)
			continue
		}
		// Others' view may lag (or the primary may just have stopped):
		// believe it only if the primary says so itself.
		if primary != addr {
			self, ok := c.clients[primary]
			if !ok {
				last = fmt.Errorf("%s names %s, not a node of this cluster, as primary of slot %d", addr, primary, slot)
				continue
			}
			shards, err := self.ClusterShards(ctx).Result()
			if err != nil {
				last = fmt.Errorf("%s names %s as primary of slot %d, which does not answer: %w", addr, primary, slot, err)
				continue
			}
			if slotPrimary(shards, slot) != primary {
				last = fmt.Errorf("%s names %s as primary of slot %d, which disagrees", addr, primary, slot)
				continue
			}
		}
		return primary, nil
	}
	return "", fmt.Errorf("primary of %q: %w", key, last)
}

func slotPrimary(shards []redis.ClusterShard, slot int64) string {
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" && n.Health != "fail" {
					return nodeAddr(n)
				}
			}
		}
	}
	return ""
}

// ReplicaOf returns the address of the replica of the given primary, as the
// primary sees it (its replicas connect to it) or else as another node does.
func (c *Cluster) ReplicaOf(ctx context.Context, primary string) (string, error) {
	order := append([]string{primary}, c.Addrs...)
	var last error = errors.New("no node answered")
	for _, addr := range order {
		rc, ok := c.clients[addr]
		if !ok {
			return "", fmt.Errorf("replica of %s: not a node of this cluster", primary)
		}
		shards, err := rc.ClusterShards(ctx).Result()
		if err != nil {
			last = fmt.Errorf("CLUSTER SHARDS on %s: %w", addr, err)
			continue
		}
		for _, sh := range shards {
			isPrimary := false
			for _, n := range sh.Nodes {
				isPrimary = isPrimary || n.Role == "master" && nodeAddr(n) == primary
			}
			if !isPrimary {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "replica" && n.Health != "fail" {
					return nodeAddr(n), nil
				}
			}
		}
		last = fmt.Errorf("%s knows no replica of %s", addr, primary)
	}
	return "", fmt.Errorf("replica of %s: %w", primary, last)
}

// Stop sends SIGTERM to the node at addr (a graceful stop: Redis 7 primaries
// wait for replicas to catch up before exiting) and waits for it to exit.
func (c *Cluster) Stop(addr string) {
	c.t.Helper()
	s := c.node(addr)
	if s == nil || s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second): // shutdown-timeout is 10s
		_ = s.cmd.Process.Kill()
		<-s.exited
		c.t.Errorf("%s did not exit within 30s of SIGTERM; killed", addr)
	}
	s.cmd = nil
}

// Crash kills the node at addr with SIGKILL, as a machine failure would: a
// primary's writes that had not reached its replica are lost.
func (c *Cluster) Crash(addr string) {
	c.t.Helper()
	if s := c.node(addr); s != nil {
		s.Stop()
	}
}

// node is the cluster's node at addr, or nil with the test failed.
func (c *Cluster) node(addr string) *Server {
	c.t.Helper()
	s, ok := c.nodes[addr]
	if !ok {
		c.t.Errorf("%s is not a node of this cluster", addr)
	}
	return s
}

// WaitPrimary waits (deadline given by ctx) until addr reports role master in
// INFO replication and CLUSTER INFO says cluster_state:ok on it.
func (c *Cluster) WaitPrimary(ctx context.Context, addr string) error {
	rc, ok := c.clients[addr]
	if !ok {
		return fmt.Errorf("wait for %s: not a node of this cluster", addr)
	}
	err := c.poll(ctx, func(ctx context.Context) error {
		repl, err := rc.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("INFO replication: %w", err)
		}
		if role := infoField(repl, "role"); role != "master" {
			return fmt.Errorf("role:%s", role)
		}
		info, err := rc.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("CLUSTER INFO: %w", err)
		}
		if st := infoField(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("cluster_state:%s", st)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s to be primary: %w", addr, err)
	}
	return nil
}

// poll calls check every 20ms until it returns nil or ctx ends, and then
// returns check's last error with ctx's.
func (c *Cluster) poll(ctx context.Context, check func(context.Context) error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// fatalf fails the test with what redis-cli said and the end of every node's log.
func (c *Cluster) fatalf(cliOut, format string, args ...any) {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, format, args...)
	if cliOut != "" {
		fmt.Fprintf(&b, "\nredis-cli said:\n%s", cliOut)
	}
	for _, addr := range c.Addrs {
		log, _ := os.ReadFile(filepath.Join(c.nodes[addr].dir, "redis.log"))
		lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
		fmt.Fprintf(&b, "\n--- %s redis.log (tail):\n%s", addr, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	c.t.Fatal(b.String())
}

func nodeClient(addr string) *redis.Client {
	// No retries: the callers poll, and a stopped node should say so at once.
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
}

func nodeAddr(n redis.Node) string {
	host := n.IP
	if host == "" {
		host = n.Endpoint
	}
	return net.JoinHostPort(host, strconv.FormatInt(n.Port, 10))
}

// infoField returns name's value in INFO-style "name:value" lines.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v
		}
	}
	return ""
}

// freePorts returns n distinct free loopback ports, holding each until all
// are found so that none is handed out twice.
func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// MoveSlot moves key's slot, with its keys, from its primary to the primary
// at to, as a resharding does: IMPORTING and MIGRATING, MIGRATE of every
// key, then SETSLOT NODE on every primary.
func (c *Cluster) MoveSlot(ctx context.Context, key, to string) error {
	from, err := c.PrimaryOf(ctx, key)
	if err != nil {
		return err
	}
	src, dst := c.clients[from], c.clients[to]
	if dst == nil {
		return fmt.Errorf("move slot: %s is not a node of this cluster", to)
	}
	slot, err := src.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER KEYSLOT: %w", err)
	}
	srcID, err := src.ClusterMyID(ctx).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER MYID on %s: %w", from, err)
	}
	dstID, err := dst.ClusterMyID(ctx).Result()
	if err != nil {
		return fmt.Errorf("CLUSTER MYID on %s: %w", to, err)
	}
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err(); err != nil {
		return fmt.Errorf("SETSLOT IMPORTING on %s: %w", to, err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err(); err != nil {
		return fmt.Errorf("SETSLOT MIGRATING on %s: %w", from, err)
	}
	host, port, _ := net.SplitHostPort(to)
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		if err != nil {
			return fmt.Errorf("CLUSTER GETKEYSINSLOT on %s: %w", from, err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("MIGRATE from %s: %w", from, err)
		}
	}
	// The new owner first, then the old, then everyone else, as redis-cli
	// does it.
	for _, addr := range append([]string{to, from}, c.Addrs...) {
		rc := c.clients[addr]
		if role, err := rc.Do(ctx, "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
			continue // replicas follow their primaries; stopped nodes cannot
		}
		if err := rc.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err(); err != nil {
			return fmt.Errorf("SETSLOT NODE on %s: %w", addr, err)
		}
	}
	return nil
}
