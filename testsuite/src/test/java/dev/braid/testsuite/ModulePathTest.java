package dev.braid.testsuite;

import dev.braid.internal.engine.BackendSelector;
import dev.braid.spi.Backend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * braid as a user gets it: a small program (src/test/example, one echo call) compiled against braid's jars and
 * run in a JVM of its own, once as a module on the module path with each backend, once on the class path.
 * On the module path the program's module requires {@code dev.braid} alone: the backend modules are resolved
 * through {@code uses}/{@code provides}, and only the API packages are exported. The jars and their
 * dependencies are braid-core's and the backends' runtime class path, which the build writes to
 * {@code target/braid-runtime.classpath} (maven-dependency-plugin, see this module's pom).
 */
class ModulePathTest {
    private static final Path EXAMPLE = Path.of("src/test/example/dev.braid.example");
    private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

    @TempDir
    static Path work;
    private static String runtimePath;
    private static Path modular;
    private static Path plain;

    @BeforeAll
    static void compileTheExample() throws IOException {
        runtimePath = Files.readString(Path.of("target/braid-runtime.classpath")).strip();
        assertThat(runtimePath).contains("agrona", "netty-transport-native-epoll");
        modular = work.resolve("modular");
        javac("-d", modular.toString(), "--module-path", runtimePath,
                EXAMPLE.resolve("module-info.java").toString(), echoSource());
        plain = work.resolve("plain");
        javac("-d", plain.toString(), "-cp", runtimePath, echoSource());
    }

    @ParameterizedTest
    @ValueSource(strings = {"nio", "epoll", "loom"})
    void onTheModulePathWithEachBackend(final String backend) throws Exception {
        assumeAvailable(backend);
        final String line = run(JAVA, "--enable-native-access=io.netty.common",
                "--module-path", modular + java.io.File.pathSeparator + runtimePath,
                "-m", "dev.braid.example/dev.braid.example.Echo", backend);
        assertThat(line).isEqualTo("backend=" + backend + " answer=hello module=dev.braid api=truetruetrue"
                + " internals=false");
    }

    @Test
    void onTheClassPath() throws Exception {
        final String line = run(JAVA, "--enable-native-access=ALL-UNNAMED",
                "-cp", plain + java.io.File.pathSeparator + runtimePath, "dev.braid.example.Echo", "auto");
        assertThat(line).matches("backend=(epoll|nio) answer=hello module=unnamed api=truetruetrue internals=true");
    }

    private static void assumeAvailable(final String name) {
        for (Backend b : BackendSelector.installed()) {
            if (b.name().equals(name)) {
                Assumptions.assumeTrue(b.isAvailable(), () -> name + " cannot run here: " + b.unavailabilityCause());
            }
        }
    }

    private static String echoSource() {
        return EXAMPLE.resolve("dev/braid/example/Echo.java").toString();
    }

    private static void javac(final String... args) {
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final int code = ToolProvider.getSystemJavaCompiler().run(null, err, err,
                Stream.concat(Stream.of("--release", "21", "-Xlint:all", "-Werror"), Stream.of(args))
                        .toArray(String[]::new));
        assertThat(code).as("javac %s: %s", List.of(args), err.toString(StandardCharsets.UTF_8)).isZero();
    }

    /** Runs the command; returns its one line of standard output (standard error is shown on failure). */
    private static String run(final String... command) throws Exception {
        final Path err = Files.createTempFile(work, "stderr", ".txt");
        final Process p = new ProcessBuilder(new ArrayList<>(List.of(command)))
                .redirectError(err.toFile()).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("exited in time").isTrue();
        final String stderr = Files.readString(err);
        assertThat(p.exitValue()).as("exit code; stderr:%n%s", stderr).isZero();
        assertThat(stderr).as("stderr").doesNotContain("WARNING", "Exception");
        return out.strip();
    }
}
