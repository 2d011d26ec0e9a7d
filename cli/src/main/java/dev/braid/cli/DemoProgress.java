package dev.braid.cli;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * Live progress of a running phase, on the error stream (the table goes to standard output, so it can be
 * piped clean), printed through the command line's one {@link StatusLine}. On a terminal one line is redrawn in place with {@code \r} a few times a second; otherwise
 * (a pipe, a file, a test) a plain line is written every {@link #PLAIN_INTERVAL_NANOS}. Either way the
 * phase's last state stays on screen as a finished line.
 *
 * <p>Not thread-safe: one thread (the one running the phases) calls everything.
 */
final class DemoProgress {
    /** How often {@link DemoRun} samples its counters for this. */
    static final long TERMINAL_INTERVAL_NANOS = 250_000_000L;
    static final long PLAIN_INTERVAL_NANOS = 2_000_000_000L;

    private final StatusLine status;
    private final boolean terminal;
    private String plainLabel;
    private long lastPlainLine;

    DemoProgress(final PrintWriter err, final boolean terminal) {
        this.status = new StatusLine(err, terminal);
        this.terminal = terminal;
    }

    /** How often the caller should call {@link #update}. */
    long intervalNanos() {
        return terminal ? TERMINAL_INTERVAL_NANOS : PLAIN_INTERVAL_NANOS / 4;
    }

    /**
     * The state {@code elapsedNanos} into a phase of {@code totalNanos}: calls made and bytes moved over the
     * connection (both directions, as the client's socket counted them) since the phase began.
     */
    void update(final String label, final long elapsedNanos, final long totalNanos, final long calls,
                final long bytes) {
        if (terminal) {
            status.redraw(line(label, elapsedNanos, totalNanos, calls, bytes));
            return;
        }
        final long now = System.nanoTime();
        if (!label.equals(plainLabel)) { // a new phase: its first plain line after one interval
            plainLabel = label;
            lastPlainLine = now;
        } else if (now - lastPlainLine >= PLAIN_INTERVAL_NANOS && totalNanos - elapsedNanos >= PLAIN_INTERVAL_NANOS / 4) {
            lastPlainLine = now; // (not just before the end: finish() prints that state)
            status.println(line(label, elapsedNanos, totalNanos, calls, bytes));
        }
    }

    /** The phase's final state, left on its own line. */
    void finish(final String label, final long elapsedNanos, final long totalNanos, final long calls,
                final long bytes) {
        status.finish(line(label, elapsedNanos, totalNanos, calls, bytes));
        plainLabel = null;
    }

    /** A one-off message (a backend starting, skipped), on its own line. */
    void note(final String message) {
        status.println(message);
    }

    static String line(final String label, final long elapsedNanos, final long totalNanos, final long calls,
                       final long bytes) {
        final double s = Math.max(elapsedNanos, 1) / 1e9;
        return String.format(Locale.ROOT, "%-26s %5.1f/%.1f s  calls %9d (%6.0f/s)  moved %8.1f MB (%6.1f MB/s)",
                label, elapsedNanos / 1e9, totalNanos / 1e9, calls, calls / s, bytes / 1e6, bytes / 1e6 / s);
    }

    /** Whether standard output is an interactive terminal ({@link StatusLine#isTerminal()}). */
    static boolean stdoutIsTerminal() {
        return StatusLine.isTerminal();
    }
}
