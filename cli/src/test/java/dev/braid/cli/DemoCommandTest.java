package dev.braid.cli;

import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** The demo runs end to end and its table is sane (every figure present and positive); never timed. */
class DemoCommandTest {
    private static final Pattern ROW = Pattern.compile(
            "^(1 in flight|8 in flight)\\s+(\\d+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)$",
            Pattern.MULTILINE);

    @Test
    void demoPrintsASaneTable() {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true),
                "demo", "--backend", "nio", "--calls", "3000", "--concurrency", "8", "--payload", "32");
        assertThat(code).as("exit code; stderr: %s", err).isZero();
        final Matcher m = ROW.matcher(out.toString());
        int rows = 0;
        while (m.find()) {
            rows++;
            for (int g = 2; g <= 8; g++) {
                assertThat(Double.parseDouble(m.group(g))).as("column %d of '%s'", g, m.group()).isPositive();
            }
        }
        assertThat(rows).as("rows in:%n%s", out).isEqualTo(2);
        assertThat(out.toString()).contains("after close: 0 pooled buffers outstanding");
        LeakChecks.assertNoBraidThreads();
    }

    @Test
    void badUsageExitsWith2AndOneReadableLine() {
        final StringWriter err = new StringWriter();
        final int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                "demo", "--calls", "lots");
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("--calls").contains("lots");
    }

    @Test
    void unknownBackendFailsWithTheValidValues() {
        final StringWriter err = new StringWriter();
        final int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                "demo", "--backend", "carrier-pigeon");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("unknown braid.backend 'carrier-pigeon'").contains("nio")
                .doesNotContain("\tat ");
    }
}
