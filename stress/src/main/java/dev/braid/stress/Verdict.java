package dev.braid.stress;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The checks a scenario's verdict is made of. Each check prints one line as it is made (the figure and
 * its bound); {@link #conclude} prints the one-line verdict ({@code VERDICT: PASS ...} or
 * {@code VERDICT: FAIL <every failed check>}) and returns the exit code (0 pass, 1 fail). One thread.
 */
final class Verdict {
    private final PrintStream out;
    private final List<String> failed = new ArrayList<>();
    private int checks;

    Verdict(final PrintStream out) {
        this.out = out;
    }

    /** Records a check; {@code what} names the figure, its value and the bound, e.g. "p99 ratio 1.8 <= 3.0". */
    Verdict check(final boolean ok, final String what) {
        checks++;
        out.println((ok ? "  [ok]   " : "  [FAIL] ") + what);
        if (!ok) {
            failed.add(what);
        }
        return this;
    }

    /** A failure that is not a comparison (a hang, an exception, an environment problem). */
    Verdict fail(final String what) {
        return check(false, what);
    }

    boolean passed() {
        return failed.isEmpty();
    }

    /** Whether every failed check so far is one of {@code allowed} (e.g. the targets a scenario may miss for now). */
    boolean failedOnly(final java.util.Collection<String> allowed) {
        return allowed.containsAll(failed);
    }

    /** Prints the verdict line; returns the process exit code. */
    int conclude(final String passSummary) {
        if (failed.isEmpty()) {
            out.println("VERDICT: PASS " + passSummary + " (" + checks + " checks)");
            return 0;
        }
        out.println("VERDICT: FAIL " + String.join("; ", failed));
        return 1;
    }
}
