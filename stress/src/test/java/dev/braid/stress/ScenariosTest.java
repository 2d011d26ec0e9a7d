package dev.braid.stress;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Runs every scenario in-process with tiny parameters and expects PASS. Timing figures (p99 and throughput
 * ratios) are given bounds no run can miss, so what is asserted is what does not depend on timing:
 * checksums, errors, leaks, threads, memory bounds. Backend: {@code -Dbraid.backend} (default auto).
 */
class ScenariosTest {

    @Test
    void connections() {
        assertPasses("connections", "--connections", "50", "--batch", "10", "--calls", "3");
    }

    /**
     * Issue 11 §3, short forms: each attack for a second or two with a few attackers. The p99 ratio is not
     * judged here (a loaded 2-CPU machine makes it noise at this length); the long runs in docs/stress.md do.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"large-header", "dribble", "connections", "ping-flood",
            "call-flood", "open-abort"})
    void attack(final String attack) {
        assertPasses("attack", "--attack", attack, "--attackers", "8", "--duration", "1500ms", "--idle-calls", "200",
                "--max-p99-ratio", "1e9", "--max-hello", "10s", "--settle", "30s");
    }

    /**
     * Issue 11 §1.5 for real: a server process under {@code prlimit --nofile=160}, its descriptors exhausted for
     * a second. Asserted: one log line at most while exhausted (no line per attempt), no busy loop (CPU bound
     * loose: a loaded machine), the connection opened before still answered, new clients served after. Skipped
     * where prlimit or /proc is missing.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"nio", "epoll", "loom"})
    void attackDescriptors(final String backend) {
        final String unavailable = DescriptorAttack.unavailableBecause();
        org.junit.jupiter.api.Assumptions.assumeTrue(unavailable == null, () -> "skipped: " + unavailable);
        // each backend's listener (the server runs in a child process, given this JVM's braid.* properties); on
        // loom an accept worked and failed by turns while descriptors were short, and logged an episode each time
        final String before = System.getProperty("braid.backend");
        System.setProperty("braid.backend", backend);
        try {
            assertPasses("attack", "--attack", "descriptors", "--fd-limit", "160", "--exhausted-for", "1s",
                    "--max-cpu", "0.5", "--recover", "30s");
        } finally {
            if (before == null) {
                System.clearProperty("braid.backend");
            } else {
                System.setProperty("braid.backend", before);
            }
        }
    }

    @Test
    void streams() {
        assertPasses("streams", "--streams", "200", "--bytes", "16384", "--timeout", "30s");
    }

    @Test
    void slowConsumers() {
        assertPasses("slow-consumers", "--stalled", "2", "--healthy", "2", "--duration", "500ms", "--warmup", "100ms",
                "--window", "131072", "--stalled-bytes", "4194304", "--max-p99-ratio", "1e9",
                "--min-throughput-ratio", "0");
    }

    @Test
    void fairness() {
        assertPasses("fairness", "--streams", "1,2", "--verdict-streams", "2", "--duration", "500ms", "--warmup",
                "100ms", "--max-p99-ratio", "1e9");
    }

    @Test
    void soak() {
        assertPasses("soak", "--duration", "2s", "--sample-every", "200ms", "--callers", "2", "--streams", "2",
                "--max-stream-bytes", "262144", "--tolerance", "1.0");
    }

    /** The link emulator's self-check, relay form (the namespace form runs in {@link #wan()}). */
    @Test
    void linkCheck() {
        assertPasses("link-check", "--forms", "relay", "--warmup", "200ms", "--duration", "500ms", "--pings", "10",
                "--min-rate-ratio", "0", "--max-rate-ratio", "1e9", "--rtt-slack", "1h", "--min-jitter-spread", "0");
    }

    /**
     * Issue 13's scenario, short: one round trip, both forms (namespace form as root), the faults with a short
     * keepalive. Issue 13's targets get bounds no run can miss here; the functional checks (memory bound,
     * faults, leaks, threads) are what is asserted.
     */
    @Test
    void wan() {
        assertPasses("wan", "--forms", "relay,ns", "--congestion", "default,reno", "--rtts", "20ms", "--backends", backend(), "--warmup", "300ms",
                "--duration", "700ms", "--min-calls", "0", "--keepalive", "300ms", "--keepalive-count", "2", "--stall", "1s",
                "--stall-bytes", "4194304", "--min-ratio", "0", "--p50-slack", "1h", "--p99-slack", "1h");
    }

    /** braid get and put (the command line, as separate processes) through the relay, small files: intact, exit 0. */
    @Test
    void wanCommandLine() {
        assertPasses("wan", "--forms", "relay", "--rtts", "20ms", "--cli", "classpath", "--cli-only", "--cli-bytes",
                "4MiB", "--min-ratio", "0");
    }

    private static String backend() {
        final String b = System.getProperty("braid.backend", "auto");
        return b.isBlank() ? "auto" : b;
    }

    private static void assertPasses(final String... args) {
        final PrintStream original = System.out;
        final ByteArrayOutputStream captured = new ByteArrayOutputStream();
        final int exit;
        try (PrintStream tee = new PrintStream(new Tee(original, captured), true, StandardCharsets.UTF_8)) {
            System.setOut(tee);
            exit = new CommandLine(new StressMain()).execute(args);
        } finally {
            System.setOut(original);
        }
        final String output = captured.toString(StandardCharsets.UTF_8);
        assertThat(output).as(output).contains("VERDICT: PASS");
        assertThat(exit).as(output).isZero();
    }

    /** Writes to both streams. */
    private static final class Tee extends OutputStream {
        private final OutputStream a;
        private final OutputStream b;

        Tee(final OutputStream a, final OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(final int c) throws java.io.IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public void write(final byte[] buf, final int off, final int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}
