package dev.braid.cli;

import java.io.Console;
import java.io.PrintWriter;
import java.lang.reflect.Method;

/**
 * The one status-line printer of the command line (the demo's phases and the file transfers both print
 * through it). On a terminal, {@link #redraw} rewrites one line in place with {@code \r}, wiping what a
 * longer previous line left, and {@link #finish} leaves the last state on its own line; elsewhere (a pipe,
 * a file, a test) every line is printed as a plain line of its own, and how often is the caller's choice.
 *
 * <p>Not thread-safe: one thread prints, or the caller serialises (as {@link Progress} does).
 */
final class StatusLine {
    private final PrintWriter out;
    private final boolean terminal;
    private int lastWidth;

    StatusLine(final PrintWriter out, final boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    boolean terminal() {
        return terminal;
    }

    /** Terminal: the line replaces the current one. Otherwise: printed as a line of its own. */
    void redraw(final String line) {
        if (!terminal) {
            println(line);
            return;
        }
        final StringBuilder sb = new StringBuilder(line.length() + 16).append('\r').append(line);
        for (int i = line.length(); i < lastWidth; i++) {
            sb.append(' ');
        }
        lastWidth = line.length();
        out.print(sb);
        out.flush();
    }

    /** The final state, left on screen: on a terminal, redrawn then ended with a newline. */
    void finish(final String line) {
        if (terminal) {
            redraw(line);
            out.println();
            out.flush();
            lastWidth = 0;
        } else {
            println(line);
        }
    }

    /** A line of its own (a message beside the status). */
    void println(final String line) {
        out.println(line);
        out.flush();
    }

    /**
     * Whether standard output is an interactive terminal. From JDK 22 {@link System#console()} exists even
     * when redirected and {@code Console.isTerminal()} tells; braid compiles for 21, so it is looked up.
     */
    static boolean isTerminal() {
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
