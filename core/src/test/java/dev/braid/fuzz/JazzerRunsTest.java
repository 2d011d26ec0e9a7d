package dev.braid.fuzz;

import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Runs each Jazzer target ({@link FrameDecoderFuzzer}, {@link ExtensionMessagesFuzzer}) in coverage-guided
 * fuzzing mode, in a JVM of its own (libFuzzer keeps global state: one target per process), and fails on
 * any finding: an exception the target does not expect, a broken invariant, a leaked pooled buffer, a hang
 * or a crash. Inputs that found new coverage accumulate in {@code target/fuzz/<target>/corpus}; a finding's
 * input is written to {@code target/fuzz/<target>/} and named in the failure.
 *
 * <p>In every build it runs briefly ({@code braid.fuzz.seconds}, default 5 s per target). The long run
 * (docs/fuzzing.md):
 * <pre>
 * mvn -pl core verify -Dtest=JazzerRunsTest -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dbraid.fuzz.runs=10000000 -Dbraid.fuzz.seconds=36000
 * </pre>
 * ({@code braid.fuzz.runs}: executions per target, default unlimited within the time.)
 */
class JazzerRunsTest {
    private static final long SECONDS = Long.getLong("braid.fuzz.seconds", 5);
    private static final long RUNS = Long.getLong("braid.fuzz.runs", -1);

    @ParameterizedTest(name = "{0}")
    @ValueSource(classes = {FrameDecoderFuzzer.class, ExtensionMessagesFuzzer.class})
    @Timeout(value = 12, unit = TimeUnit.HOURS) // bounded by braid.fuzz.seconds; this only guards a stuck JVM
    void fuzzTargetFindsNothing(final Class<?> target) throws Exception {
        final Path dir = Path.of("target", "fuzz", target.getSimpleName()).toAbsolutePath();
        final Path corpus = Files.createDirectories(dir.resolve("corpus"));
        final Path output = dir.resolve("jazzer.log");
        final List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"),
                "-XX:+EnableDynamicAgentLoading", "-Xmx1g", "-XX:MaxDirectMemorySize=512m",
                "com.code_intelligence.jazzer.Jazzer",
                "--target_class=" + target.getName(),
                "--instrumentation_includes=dev.braid.**",
                "-max_total_time=" + SECONDS,
                "-runs=" + RUNS,
                "-timeout=20",
                "-rss_limit_mb=3072",
                "-print_final_stats=1",
                "-artifact_prefix=" + dir + "/",
                corpus.toString()));
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        final boolean ended = p.waitFor(SECONDS + 120, TimeUnit.SECONDS);
        if (!ended) {
            p.destroyForcibly();
        }
        final String log = read(output);
        assertThat(ended).as("Jazzer ended within its time (+120 s); its output:%n%s", tail(log)).isTrue();
        assertThat(p.exitValue()).as("Jazzer's exit code for %s (0: no finding); its output:%n%s",
                target.getSimpleName(), tail(log)).isZero();
        final Matcher runs = Pattern.compile("stat::number_of_executed_units: (\\d+)").matcher(log);
        assertThat(runs.find()).as("Jazzer's final stats; its output:%n%s", tail(log)).isTrue();
        final long executed = Long.parseLong(runs.group(1));
        System.out.printf("%s: %,d executions, no finding (log: %s)%n", target.getSimpleName(), executed, output);
        assertThat(executed).as("executions").isPositive();
    }

    private static String read(final Path p) throws IOException {
        return Files.exists(p) ? Files.readString(p, StandardCharsets.UTF_8) : "(no output)";
    }

    private static String tail(final String log) {
        return log.length() <= 6000 ? log : "..." + log.substring(log.length() - 6000);
    }
}
