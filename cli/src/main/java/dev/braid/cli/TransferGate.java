package dev.braid.cli;

import dev.braid.BraidStream;
import dev.braid.Peer;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static dev.braid.cli.FileProtocol.ERR_LIMIT;
import static dev.braid.cli.FileProtocol.error;

/**
 * Admits {@code braid serve}'s transfers within {@link ServeLimits} and aborts those that stall.
 *
 * <p><b>Admission.</b> {@link #admit} takes a slot, or refuses with code 7 naming the limit when
 * {@code maxTransfers} (all clients) or {@code maxClientTransfers} (one client address) transfers are
 * already in progress; {@link Ticket#close()} gives it back. A transfer is admitted before its file is
 * opened, so the limit bounds open files and transfer memory too.
 *
 * <p><b>Stalls.</b> A watchdog thread ({@code braid-serve-watchdog}) looks at every admitted transfer a few
 * times per stall timeout; a transfer whose progress counter has not moved for {@code stallTimeout} is
 * aborted ({@link BraidStream#abort}, which wakes its handler's blocked write or read with the reason).
 *
 * <p><b>Threads.</b> Thread-safe: handlers admit and close tickets from their own virtual threads, the
 * watchdog reads the tickets, {@link #abortAll} and {@link #close} come from the shutdown path. Admission
 * counts change under this object's lock (once per transfer, never per byte); progress is an
 * {@link AtomicLong} the handler adds to and the watchdog reads.
 */
final class TransferGate implements AutoCloseable {
    private final ServeLimits limits;
    private final Set<Ticket> active = ConcurrentHashMap.newKeySet();
    private final Map<InetAddress, Integer> perClient = new HashMap<>(); // guarded by this
    private int total; // guarded by this
    private final ScheduledExecutorService watchdog;

    TransferGate(final ServeLimits limits) {
        this.limits = limits;
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "braid-serve-watchdog");
            t.setDaemon(true);
            return t;
        });
        final long periodMillis = Math.max(20, Math.min(1000, limits.stallTimeout().toMillis() / 4));
        watchdog.scheduleWithFixedDelay(this::abortStalled, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }

    /** One admitted transfer. The handler adds to {@link #progress} as data moves and closes it at the end. */
    final class Ticket implements AutoCloseable {
        final AtomicLong progress = new AtomicLong();
        private final BraidStream stream;
        private final InetAddress client;
        private final String what;
        private long seen = -1;      // watchdog thread only
        private long seenAtNanos;    // watchdog thread only
        private volatile boolean released;

        private Ticket(final BraidStream stream, final InetAddress client, final String what) {
            this.stream = stream;
            this.client = client;
            this.what = what;
        }

        @Override
        public void close() {
            if (released) {
                return;
            }
            released = true;
            active.remove(this);
            synchronized (TransferGate.this) {
                total--;
                perClient.computeIfPresent(client, (k, n) -> n == 1 ? null : n - 1);
            }
        }

        @Override
        public String toString() {
            return what;
        }
    }

    /**
     * Takes a transfer slot for {@code stream}, opened by {@code peer}.
     *
     * @param what the transfer, for messages ("get share/f1")
     * @throws dev.braid.RemoteException code 7, naming the limit, when no slot is free
     */
    Ticket admit(final Peer peer, final BraidStream stream, final String what) {
        final InetAddress client = clientOf(peer.remoteAddress());
        synchronized (this) {
            if (total >= limits.maxTransfers()) {
                throw error(ERR_LIMIT, "server busy: " + total + " transfers in progress (limit --max-transfers = "
                        + limits.maxTransfers() + "); try again later");
            }
            final int mine = perClient.getOrDefault(client, 0);
            if (mine >= limits.maxClientTransfers()) {
                throw error(ERR_LIMIT, "too many transfers from " + client.getHostAddress() + ": " + mine
                        + " in progress (limit --max-client-transfers = " + limits.maxClientTransfers() + ")");
            }
            total++;
            perClient.put(client, mine + 1);
        }
        final Ticket t = new Ticket(stream, client, what);
        active.add(t);
        return t;
    }

    private static InetAddress clientOf(final SocketAddress a) {
        if (a instanceof InetSocketAddress i && i.getAddress() != null) {
            return i.getAddress();
        }
        return InetAddress.getLoopbackAddress(); // not an IP socket: all such clients share one budget
    }

    /** Transfers in progress. */
    synchronized int inProgress() {
        return total;
    }

    /** Watchdog thread: aborts every transfer whose progress has not moved for the stall timeout. */
    private void abortStalled() {
        final long now = System.nanoTime();
        final long limitNanos = limits.stallTimeout().toNanos();
        for (Ticket t : active) {
            final long p = t.progress.get();
            if (p != t.seen) {
                t.seen = p;
                t.seenAtNanos = now;
            } else if (now - t.seenAtNanos >= limitNanos && !t.released) {
                t.stream.abort(t.what + ": no data moved for " + DurationConverter.format(limits.stallTimeout())
                        + " (the peer is not " + (t.what.startsWith("get") ? "reading" : "sending")
                        + "; limit --stall-timeout = " + DurationConverter.format(limits.stallTimeout()) + ")");
                t.seenAtNanos = now; // abort once; the handler closes the ticket as it unwinds
            }
        }
    }

    /** Aborts every transfer in progress with {@code reason} (shutdown). Any thread; never blocks. */
    void abortAll(final String reason) {
        for (Ticket t : active) {
            t.stream.abort(reason);
        }
    }

    /** Stops the watchdog. Transfers still admitted keep their slots until their handlers end. */
    @Override
    public void close() {
        watchdog.shutdownNow();
    }
}
