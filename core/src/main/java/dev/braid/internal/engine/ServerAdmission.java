package dev.braid.internal.engine;

import dev.braid.BraidConfig;
import dev.braid.LimitExceededException;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One server's bounds on its connections (issue 11 §1.2): how many are open ({@code maxConnections}), how
 * many from one remote IP address ({@code maxConnectionsPerAddress}), and how many have not sent a whole
 * first frame yet ({@code maxConnectionsInHello}). A connection is admitted as it opens, before anything
 * else happens on it; one beyond the first two bounds is refused and closed at once, and the refusal names the
 * limit. Beyond {@code maxConnectionsInHello} the new connection is admitted and the <em>oldest</em> connection
 * still without a frame is closed instead (its reason names the limit): refusing the new one would let an
 * attacker who keeps that many silent connections open lock every new client out until {@code helloTimeout};
 * evicting the oldest makes the attacker reconnect all the time, while an honest client, which sends its HELLO
 * at once, is almost never the oldest.
 *
 * <p><b>Threads.</b> Any thread: {@link #admit} runs on each connection's reader as it opens,
 * {@link #leftHello} on its reader at its first frame, {@link #release} wherever the connection closes. The
 * counts are atomics; the per-address count is created and removed inside {@link ConcurrentHashMap#compute},
 * so an address's entry exists exactly while it has connections.
 */
public final class ServerAdmission {
    private final int maxConnections;
    private final int maxPerAddress;
    private final int maxInHello;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger inHello = new AtomicInteger();
    private final ConcurrentHashMap<InetAddress, AtomicInteger> perAddress = new ConcurrentHashMap<>();
    /** Connections in HELLO, oldest first (an evicted or departed one is removed, or skipped when found gone). */
    private final java.util.concurrent.ConcurrentLinkedDeque<ServerConnection> helloOrder =
            new java.util.concurrent.ConcurrentLinkedDeque<>();

    /**
     * @param rt the server braid (its configuration's three connection limits)
     */
    public ServerAdmission(final BraidRuntime rt) {
        final BraidConfig cfg = rt.config;
        this.maxConnections = cfg.maxConnections();
        this.maxPerAddress = cfg.maxConnectionsPerAddress();
        this.maxInHello = cfg.maxConnectionsInHello();
    }

    /**
     * Counts a connection from {@code remote} in, as open and in HELLO, unless a bound is reached.
     *
     * @return null if admitted (the caller must {@link #release} it once), or the refusal naming the limit
     */
    LimitExceededException admit(final ServerConnection c, final SocketAddress remote) {
        if (open.incrementAndGet() > maxConnections) {
            open.decrementAndGet();
            return new LimitExceededException("maxConnections", maxConnections, "connection from " + remote
                    + " refused: " + maxConnections + " connections are open");
        }
        final InetAddress a = address(remote);
        if (a != null) {
            final AtomicInteger n = perAddress.compute(a, (k, v) -> {
                final AtomicInteger count = v != null ? v : new AtomicInteger();
                count.incrementAndGet();
                return count;
            });
            if (n.get() > maxPerAddress) {
                decrement(a);
                open.decrementAndGet();
                return new LimitExceededException("maxConnectionsPerAddress", maxPerAddress, "connection from "
                        + remote + " refused: " + maxPerAddress + " connections from " + a.getHostAddress()
                        + " are open");
            }
        }
        helloOrder.addLast(c);
        if (inHello.incrementAndGet() > maxInHello) {
            evictOldestInHello(c);
        }
        return null;
    }

    /** Closes the oldest connection still in HELLO other than {@code newest}; it leaves the count as it closes. */
    private void evictOldestInHello(final ServerConnection newest) {
        ServerConnection oldest;
        while ((oldest = helloOrder.pollFirst()) != null) {
            if (oldest != newest && oldest.evictFromHello(new LimitExceededException("maxConnectionsInHello", maxInHello,
                    "connection closed: it sent no frame, and it was the oldest of more than " + maxInHello
                            + " connections without one"))) {
                return;
            }
            if (oldest == newest) {
                helloOrder.addLast(newest);
                return;
            }
        }
    }

    /** An admitted connection sent its first whole frame: no longer counted in HELLO. Once per connection. */
    void leftHello(final ServerConnection c) {
        inHello.decrementAndGet();
        helloOrder.remove(c);
    }

    /**
     * An admitted connection closed.
     *
     * @param stillInHello it never sent a whole frame ({@link #leftHello} was not called for it)
     */
    void release(final ServerConnection c, final SocketAddress remote, final boolean stillInHello) {
        if (stillInHello) {
            inHello.decrementAndGet();
            helloOrder.remove(c);
        }
        final InetAddress a = address(remote);
        if (a != null) {
            decrement(a);
        }
        open.decrementAndGet();
    }

    private void decrement(final InetAddress a) {
        perAddress.computeIfPresent(a, (k, v) -> v.decrementAndGet() == 0 ? null : v);
    }

    private static InetAddress address(final SocketAddress remote) {
        return remote instanceof InetSocketAddress i ? i.getAddress() : null;
    }

    /** Open connections now (any thread; for stats and tests). */
    public int open() {
        return open.get();
    }

    /** Connections that have not sent a whole frame yet (any thread; for stats and tests). */
    public int inHello() {
        return inHello.get();
    }
}
