package dev.braid.cli;

import java.time.Duration;

/**
 * What {@code braid serve} lets its clients take, all of it together (braid's own per-connection limits,
 * such as 64 streams, still apply underneath). docs/cli.md ("Limits of braid serve") has the same list.
 *
 * <p>Memory: a download that its reader does not drain holds one pooled block ({@link Transfers#BLOCK}) and
 * at most its stream's send ring (8 packets of at most 256 KiB); an upload holds at most the stream's window
 * of received packets. So transfers hold at most about {@code maxTransfers x 2.3 MiB} of direct memory
 * (147 MiB with the default 64), and at most {@code maxTransfers} open files.
 *
 * @param maxTransfers       downloads and uploads in progress at once, all clients together; one more is
 *                           refused with code 7 ({@link FileProtocol#ERR_LIMIT}) naming the limit
 * @param maxClientTransfers the same for one client address (an IP), so that one host cannot take them all
 * @param stallTimeout       a transfer whose peer lets it move no data for this long (a reader that returns
 *                           no credit, a writer that sends nothing) is aborted with code 7
 * @param maxUploadSize      largest file an upload may create, holes included (a sparse file counts its
 *                           full length); larger announced sizes are refused up front, and an upload that
 *                           grows past it is aborted
 * @param shutdownTimeout    how long SIGTERM / Ctrl-C waits for connections to close before the process
 *                           halts anyway
 * @param maxConsoles        console sessions at once (each is a process and two threads), with
 *                           {@code --console}; one more is refused with code 7
 */
public record ServeLimits(int maxTransfers, int maxClientTransfers, Duration stallTimeout, long maxUploadSize,
                          Duration shutdownTimeout, int maxConsoles) {
    public static final ServeLimits DEFAULT = new ServeLimits(64, 16, Duration.ofSeconds(60), 64L << 30,
            Duration.ofSeconds(10), 16);

    public ServeLimits {
        if (maxTransfers < 1) {
            throw new IllegalArgumentException("--max-transfers must be at least 1, got " + maxTransfers);
        }
        if (maxClientTransfers < 1) {
            throw new IllegalArgumentException("--max-client-transfers must be at least 1, got " + maxClientTransfers);
        }
        if (stallTimeout.isNegative() || stallTimeout.isZero()) {
            throw new IllegalArgumentException("--stall-timeout must be positive, got " + stallTimeout);
        }
        if (maxUploadSize < 0) {
            throw new IllegalArgumentException("--max-upload-size must be >= 0, got " + maxUploadSize);
        }
        if (shutdownTimeout.isNegative()) {
            throw new IllegalArgumentException("the shutdown timeout must be >= 0, got " + shutdownTimeout);
        }
        if (maxConsoles < 1) {
            throw new IllegalArgumentException("--max-consoles must be at least 1, got " + maxConsoles);
        }
    }

    public ServeLimits withTransfers(final int total, final int perClient) {
        return new ServeLimits(total, perClient, stallTimeout, maxUploadSize, shutdownTimeout, maxConsoles);
    }

    public ServeLimits withStallTimeout(final Duration d) {
        return new ServeLimits(maxTransfers, maxClientTransfers, d, maxUploadSize, shutdownTimeout, maxConsoles);
    }

    public ServeLimits withMaxConsoles(final int n) {
        return new ServeLimits(maxTransfers, maxClientTransfers, stallTimeout, maxUploadSize, shutdownTimeout, n);
    }

    public ServeLimits withMaxUploadSize(final long bytes) {
        return new ServeLimits(maxTransfers, maxClientTransfers, stallTimeout, bytes, shutdownTimeout, maxConsoles);
    }

    /**
     * Pooled bytes that transfers may hold at most: per transfer one block and a full send ring of maximal
     * stream packets (each in the pool's 270,336-byte class). The engine's per-connection buffers and the
     * pool's retained free buffers come on top.
     */
    public long transferMemoryBound() {
        final long packetBuffer = 270_336;
        return (long) maxTransfers * (packetBuffer + 8 * packetBuffer);
    }
}
