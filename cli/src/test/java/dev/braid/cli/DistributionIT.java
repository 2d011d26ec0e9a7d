package dev.braid.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The distribution as a user gets it (run by failsafe after {@code package}): braid-VERSION.tar.gz unpacked in
 * a clean directory and its {@code bin/braid} run with an environment that holds nothing but the JDK's bin
 * directory on PATH (no JAVA_HOME, no coreutils): {@code --version} from the jar's manifest, a short demo, the
 * completion script picocli generates (loaded by bash and by zsh when zsh is installed), and a strict property.
 */
class DistributionIT {
    private static final String VERSION = System.getProperty("braid.version");
    private static final Path TARBALL = Path.of(System.getProperty("braid.tarball"));
    private static final Path JDK_BIN = Path.of(System.getProperty("java.home"), "bin");

    @TempDir
    static Path clean;
    private static Path braid;

    @BeforeAll
    static void unpack() throws Exception {
        assertThat(TARBALL).exists();
        final Process tar = new ProcessBuilder("tar", "xzf", TARBALL.toString(), "-C", clean.toString())
                .redirectErrorStream(true).start();
        assertThat(tar.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(tar.exitValue()).as(new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();
        final Path home = clean.resolve("braid-" + VERSION);
        assertThat(home.resolve("README.md")).content().contains("braid " + VERSION);
        assertThat(home.resolve("LICENSE")).content().contains("Apache License");
        assertThat(home.resolve("NOTICE")).exists();
        assertThat(home.resolve("lib/braid-cli-" + VERSION + ".jar")).exists();
        assertThat(home.resolve("lib/netty-transport-native-epoll-" + nettyVersion(home) + "-linux-aarch_64.jar"))
                .exists();
        braid = home.resolve("bin/braid");
        assertThat(Files.isExecutable(braid)).isTrue();
    }

    private static String nettyVersion(final Path home) throws Exception {
        try (var files = Files.list(home.resolve("lib"))) {
            final String common = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("netty-common-"))
                    .findFirst().orElseThrow();
            return common.substring("netty-common-".length(), common.length() - ".jar".length());
        }
    }

    record Run(int code, String out, String err) {
    }

    /** bin/braid with PATH = the JDK's bin directory only, in the clean directory. */
    private static Run braid(final Map<String, String> extraEnv, final String... args) throws Exception {
        final List<String> command = new ArrayList<>(List.of(braid.toString()));
        command.addAll(List.of(args));
        final ProcessBuilder pb = new ProcessBuilder(command).directory(clean.toFile());
        pb.environment().clear();
        pb.environment().put("PATH", JDK_BIN.toString());
        pb.environment().put("HOME", clean.toString());
        pb.environment().putAll(extraEnv);
        final Path out = Files.createTempFile(clean, "out", ".txt");
        final Path err = Files.createTempFile(clean, "err", ".txt");
        final Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("bin/braid %s finished", List.of(args)).isTrue();
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    @Test
    void versionComesFromTheJarManifest() throws Exception {
        final Run r = braid(Map.of(), "--version");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines().findFirst()).contains("braid " + VERSION);
        assertThat(r.out()).contains("Java " + Runtime.version().feature());
    }

    @Test
    void theDemoRunsWithOnlyTheJdkOnPath() throws Exception {
        final Run r = braid(Map.of(), "demo", "--duration", "1s", "--warmup", "200ms", "--streams", "2");
        assertThat(r.code()).as("stderr: %s", r.err()).isZero();
        assertThat(r.out()).contains("calls alone", "beside 2 streams", "0 pooled buffers outstanding",
                "chart: " + clean.resolve("braid-demo.png"));
        assertThat(clean.resolve("braid-demo.png")).isNotEmptyFile();
        assertThat(r.err()).doesNotContain("WARNING");
    }

    @Test
    void aBadPropertyIsAnErrorNamingIt() throws Exception {
        final Run r = braid(Map.of("BRAID_JAVA_OPTS", "-Dbraid.ioThreads=four"), "demo", "--duration", "1s");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("system property braid.ioThreads is 'four': it takes an integer from 1 to 1024");
    }

    @Test
    void completionForBashAndZsh() throws Exception {
        final Run r = braid(Map.of(), "generate-completion");
        assertThat(r.code()).as(r.err()).isZero();
        final Path script = clean.resolve("braid_completion");
        Files.writeString(script, r.out());
        // bash: ask the completion function what follows "braid de" and "braid demo --ba"
        final String bash = shell("/bin/bash", "-c", "source " + script
                + "; COMP_WORDS=(braid de); COMP_CWORD=1; COMP_LINE='braid de'; COMP_POINT=8;"
                + " _complete_braid braid de braid; echo \"1:${COMPREPLY[*]}\";"
                + " COMP_WORDS=(braid demo --ba); COMP_CWORD=2; COMP_LINE='braid demo --ba'; COMP_POINT=15;"
                + " _complete_braid braid --ba demo; echo \"2:${COMPREPLY[*]}\"");
        assertThat(bash).contains("1:demo", "2:--backend");
        if (Files.isExecutable(Path.of("/usr/bin/zsh")) || Files.isExecutable(Path.of("/bin/zsh"))) {
            final String zsh = shell("zsh", "-c", "autoload -U +X compinit && compinit -u;"
                    + " autoload -U +X bashcompinit && bashcompinit; source " + script + "; complete -p braid");
            assertThat(zsh).contains("complete -F _complete_braid -o default braid");
        }
    }

    /**
     * The JVM options bin/braid chooses, seen through a stand-in {@code java} (JAVA_HOME points at a directory
     * whose bin/java prints its arguments): get, put and ls in plaintext run with the JIT's first tier only,
     * anything with a --tls option or an @file, and every other command, with the full JIT; BRAID_JAVA_OPTS
     * comes after, so it can override.
     */
    @Test
    void shortPlaintextTransfersRunWithTheFirstJitTierOnly() throws Exception {
        final Path fakeHome = clean.resolve("fake-jdk");
        Files.createDirectories(fakeHome.resolve("bin"));
        final Path fakeJava = fakeHome.resolve("bin/java");
        Files.writeString(fakeJava, "#!/bin/sh\necho \"$@\"\n");
        assertThat(fakeJava.toFile().setExecutable(true)).isTrue();
        final Map<String, String> env = Map.of("JAVA_HOME", fakeHome.toString());
        final String c1 = "-XX:TieredStopAtLevel=1";
        assertThat(braid(env, "get", "127.0.0.1:16509", "a", "b").out()).contains(c1);
        assertThat(braid(env, "--verbose", "put", "a", "127.0.0.1:16509", "b").out()).contains(c1);
        assertThat(braid(env, "ls", "127.0.0.1:16509").out()).contains(c1);
        assertThat(braid(env, "get", "--tls-ca", "ca.pem", "h:1", "a", "b").out()).doesNotContain(c1);
        assertThat(braid(env, "put", "a", "h:1", "b", "--tls-ca=ca.pem").out()).doesNotContain(c1);
        assertThat(braid(env, "get", "@args.txt").out()).doesNotContain(c1);
        assertThat(braid(env, "serve", "--root", ".").out()).doesNotContain(c1);
        assertThat(braid(env, "demo").out()).doesNotContain(c1);
        assertThat(braid(env, "console", "h:1").out()).doesNotContain(c1);
        final String overridden = braid(Map.of("JAVA_HOME", fakeHome.toString(),
                "BRAID_JAVA_OPTS", "-XX:TieredStopAtLevel=4"), "get", "h:1", "a", "b").out();
        assertThat(overridden.indexOf("-XX:TieredStopAtLevel=4")).isGreaterThan(overridden.indexOf(c1));
        assertThat(overridden).endsWith("dev.braid.cli.Main get h:1 a b\n");
    }

    private static String shell(final String... command) throws Exception {
        final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return out;
    }
}
