package dev.braid.cli;

import java.io.Console;
import java.io.PrintWriter;
import java.lang.reflect.Method;
import java.util.Locale;

/**
 * Live progress of a running phase, on the error stream (the table goes to standard output, so it can be
 * piped clean). On a terminal one line is redrawn in place with {@code \r} a few times a second; otherwise
 * (a pipe, a file, a test) a plain line is written every {@link #PLAIN_INTERVAL_NANOS}. Either way the
 * phase's last state stays on screen as a finished line.
 *
 * <p>Not thread-safe: one thread (the one running the phases) calls everything.
 */
final class DemoProgress {
    /** How often {@link DemoRun} samples its counters for this. */
    static final long TERMINAL_INTERVAL_NANOS = 250_000_000L;
    static final long PLAIN_INTERVAL_NANOS = 2_000_000_000L;

    private final PrintWriter err;
    private final boolean terminal;
    private String plainLabel;
    private long lastPlainLine;
    private int lastWidth;

    DemoProgress(final PrintWriter err, final boolean terminal) {
        this.err = err;
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
            redraw(line(label, elapsedNanos, totalNanos, calls, bytes));
            return;
        }
        final long now = System.nanoTime();
        if (!label.equals(plainLabel)) { // a new phase: its first plain line after one interval
            plainLabel = label;
            lastPlainLine = now;
        } else if (now - lastPlainLine >= PLAIN_INTERVAL_NANOS && totalNanos - elapsedNanos >= PLAIN_INTERVAL_NANOS / 4) {
            lastPlainLine = now; // (not just before the end: finish() prints that state)
            err.println(line(label, elapsedNanos, totalNanos, calls, bytes));
            err.flush();
        }
    }

    /** The phase's final state, left on its own line. */
    void finish(final String label, final long elapsedNanos, final long totalNanos, final long calls,
                final long bytes) {
        final String line = line(label, elapsedNanos, totalNanos, calls, bytes);
        if (terminal) {
            redraw(line);
            err.println();
        } else {
            err.println(line);
        }
        err.flush();
        plainLabel = null;
        lastWidth = 0;
    }

    /** A one-off message (a backend starting, skipped), on its own line. */
    void note(final String message) {
        err.println(message);
        err.flush();
    }

    private void redraw(final String line) {
        final StringBuilder sb = new StringBuilder(line.length() + 16).append('\r').append(line);
        for (int i = line.length(); i < lastWidth; i++) {
            sb.append(' '); // wipe what a longer previous line left
        }
        lastWidth = line.length();
        err.print(sb);
        err.flush();
    }

    static String line(final String label, final long elapsedNanos, final long totalNanos, final long calls,
                       final long bytes) {
        final double s = Math.max(elapsedNanos, 1) / 1e9;
        return String.format(Locale.ROOT, "%-26s %5.1f/%.1f s  calls %9d (%6.0f/s)  moved %8.1f MB (%6.1f MB/s)",
                label, elapsedNanos / 1e9, totalNanos / 1e9, calls, calls / s, bytes / 1e6, bytes / 1e6 / s);
    }

    /**
     * Whether standard output is an interactive terminal. From JDK 22 {@link System#console()} exists even
     * when redirected and {@code Console.isTerminal()} tells; braid compiles for 21, so it is looked up.
     */
    static boolean stdoutIsTerminal() {
        final Console c = System.console();
        if (c == null) {
            return false;
        }
        try {
            final Method isTerminal = Console.class.getMethod("isTerminal");
            return (Boolean) isTerminal.invoke(c);
        } catch (NoSuchMethodException e) {
            return true; // JDK 21: a console exists only on a terminal
        } catch (ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }
}
