package dev.braid.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Progress of a transfer of one or more files: a bar redrawn in place on a terminal, a plain line every
 * {@code interval} otherwise (for logs and scripts), printed through the command line's one
 * {@link StatusLine}. Transfer threads add to {@link #bytes} and {@link #files}; one daemon thread reads them
 * and prints. {@link #close()} stops it and prints the summary.
 */
final class Progress implements AutoCloseable {
    final AtomicLong bytes = new AtomicLong();
    final AtomicInteger files = new AtomicInteger();

    private final StatusLine status;
    private final String verb;
    private final long total;
    private final int fileCount;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private final Thread printer;
    private volatile boolean closed;

    Progress(final PrintWriter out, final String verb, final long total, final int fileCount, final boolean terminal,
             final long intervalMillis) {
        this.status = new StatusLine(out, terminal);
        this.verb = verb;
        this.total = total;
        this.fileCount = fileCount;
        this.terminal = terminal;
        this.printer = Thread.ofPlatform().daemon().name("braid-progress").start(() -> {
            final long every = terminal ? Math.min(200, intervalMillis) : intervalMillis;
            while (!closed) {
                try {
                    Thread.sleep(every);
                } catch (InterruptedException e) {
                    return;
                }
                if (!closed) {
                    print(false);
                }
            }
        });
    }

    /** Is standard output a terminal? ({@link StatusLine#isTerminal()}) */
    static boolean isTerminal() {
        return StatusLine.isTerminal();
    }

    private synchronized void print(final boolean last) {
        final long done = bytes.get();
        final double secs = Math.max(1e-3, (System.nanoTime() - start) / 1e9);
        final double rate = done / secs;
        final String eta = rate > 0 && total > done ? duration((total - done) / rate) : "0s";
        final int pct = total > 0 ? (int) Math.min(100, done * 100 / total) : 100;
        if (terminal) {
            final int width = 24;
            final int filled = pct * width / 100;
            final String bar = "#".repeat(filled) + " ".repeat(width - filled);
            final String line = String.format(Locale.ROOT, "%s [%s] %3d%% %s / %s  %s/s  ETA %-6s %d/%d files", verb,
                    bar, pct, size(done), size(total), size((long) rate), eta, files.get(), fileCount);
            if (last) {
                status.finish(line);
            } else {
                status.redraw(line);
            }
        } else {
            status.println(String.format(Locale.ROOT, "%s: %s / %s (%d%%)  %s/s  ETA %s  %d/%d files", verb,
                    size(done), size(total), pct, size((long) rate), eta, files.get(), fileCount));
        }
    }

    @Override
    public void close() {
        closed = true;
        printer.interrupt();
        print(true);
    }

    /** "12.3 MiB" style. */
    static String size(final long n) {
        if (n < 1024) {
            return n + " B";
        }
        final String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    static String duration(final double secs) {
        final long s = (long) Math.ceil(secs);
        return s < 60 ? s + "s" : s < 3600 ? (s / 60) + "m" + (s % 60) + "s" : (s / 3600) + "h" + (s % 3600 / 60) + "m";
    }

    double elapsedSeconds() {
        return (System.nanoTime() - start) / 1e9;
    }
}
