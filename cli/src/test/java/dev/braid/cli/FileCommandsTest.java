package dev.braid.cli;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The file and console commands end to end, each command a separate JVM ({@code java -cp <test classpath>
 * dev.braid.cli.Main ...}) against one {@code braid serve} process. The 1 GiB round trip (about 3 GiB of
 * temporary disk, some 20 s) runs by default; {@code -Dbraid.cli.bigTests=false} skips it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FileCommandsTest {
    private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    private static final String CLASSPATH = System.getProperty("java.class.path");

    private static Path base;
    private static Path root;
    private static Process server;
    private static String endpoint;

    @BeforeAll
    static void startServer() throws Exception {
        base = Files.createTempDirectory("braid-cli-test");
        root = Files.createDirectories(base.resolve("root"));
        server = command("serve", "--root", root.toString(), "--console", "script -qfc /bin/sh /dev/null")
                .redirectErrorStream(true).start();
        final BufferedReader r = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        final String first = r.readLine();
        assertThat(first).as("serve's first line").isNotNull().contains("braid serve: serving");
        final Matcher m = Pattern.compile(" on (\\S+:\\d+) ").matcher(first);
        assertThat(m.find()).as(first).isTrue();
        endpoint = m.group(1);
        Thread.ofPlatform().daemon().start(() -> {
            try {
                r.transferTo(java.io.Writer.nullWriter());
            } catch (IOException ignored) {
                // the server went
            }
        });
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.destroy();
            assertThat(server.waitFor(20, TimeUnit.SECONDS)).as("serve stops on SIGTERM").isTrue();
        }
        if (base != null) {
            try (Stream<Path> s = Files.walk(base)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    static ProcessBuilder command(final String... args) {
        final List<String> cmd = new ArrayList<>(List.of(JAVA, "-cp", CLASSPATH, "-Dbraid.backend=nio",
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "dev.braid.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    record Result(int code, String out, String err) {
    }

    static Result run(final String... args) throws Exception {
        final Path out = Files.createTempFile(base, "out", ".txt");
        final Path err = Files.createTempFile(base, "err", ".txt");
        final Process p = command(args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertThat(p.waitFor(100, TimeUnit.SECONDS)).as("braid %s finished", String.join(" ", args)).isTrue();
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    static String sha256(final Path p) throws Exception {
        final MessageDigest d = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(p)) {
            final byte[] b = new byte[1 << 16];
            int n;
            while ((n = in.read(b)) > 0) {
                d.update(b, 0, n);
            }
        }
        return HexFormat.of().formatHex(d.digest());
    }

    static Path randomFile(final Path p, final long size, final long seed) throws IOException {
        Files.createDirectories(p.getParent());
        final Random r = new Random(seed);
        try (OutputStream o = Files.newOutputStream(p)) {
            final byte[] b = new byte[1 << 16];
            for (long left = size; left > 0; left -= b.length) {
                r.nextBytes(b);
                o.write(b, 0, (int) Math.min(b.length, left));
            }
        }
        return p;
    }

    /** Allocated bytes on disk (stat %b x %B). */
    static long allocated(final Path p) throws Exception {
        final Process s = new ProcessBuilder("stat", "-c", "%b %B", p.toString()).start();
        final String[] f = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim().split(" ");
        s.waitFor();
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }

    static List<Path> leftovers(final Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".part")).toList();
        }
    }

    // ------------------------------------------------------------------ transfers

    @Test
    void severalFilesUpAndDownArriveIntact() throws Exception {
        final Path local = base.resolve("several");
        final Path a = randomFile(local.resolve("a.bin"), 3L << 20, 1);
        final Path b = randomFile(local.resolve("b.bin"), (1L << 20) + 17, 2);
        final Path c = randomFile(local.resolve("c.bin"), 0, 3);
        final Result put = run("put", "--progress-interval", "0.2", a.toString(), b.toString(), c.toString(), endpoint,
                "several");
        assertThat(put.code()).as("put: %s", put).isZero();
        assertThat(put.out()).contains("put: 3 of 3 files");
        for (Path f : List.of(a, b, c)) {
            assertThat(sha256(root.resolve("several").resolve(f.getFileName()))).isEqualTo(sha256(f));
        }
        final Path down = base.resolve("several-down");
        final Result get = run("get", endpoint, "several/a.bin", "several/b.bin", "several/c.bin", down.toString());
        assertThat(get.code()).as("get: %s", get).isZero();
        assertThat(get.out()).contains("get: 3 of 3 files");
        assertThat(get.err()).as("plain progress lines when not on a terminal").containsPattern(
                "get: [\\d.]+ \\S+ / 4\\.0 MiB \\(\\d+%\\)  \\S+ \\S+/s  ETA \\S+  \\d/3 files");
        for (Path f : List.of(a, b, c)) {
            assertThat(sha256(down.resolve(f.getFileName()))).isEqualTo(sha256(f));
        }
        assertThat(leftovers(down)).isEmpty();
        final Result ls = run("ls", endpoint, "several");
        assertThat(ls.code()).isZero();
        assertThat(ls.out()).containsPattern("- +3145728 .* a\\.bin").containsPattern("- +1048593 .* b\\.bin");
    }

    @Test
    void aDirectoryTreeRoundTrips() throws Exception {
        final Path tree = base.resolve("tree");
        randomFile(tree.resolve("x/one"), 100_000, 4);
        randomFile(tree.resolve("x/y/two"), 500_000, 5);
        randomFile(tree.resolve("three"), 7, 6);
        final Result put = run("put", tree.toString(), endpoint, "backup/tree");
        assertThat(put.code()).as("put: %s", put).isZero();
        final Path copy = base.resolve("tree-copy");
        final Result get = run("get", endpoint, "backup/tree", copy.toString());
        assertThat(get.code()).as("get: %s", get).isZero();
        for (String f : List.of("x/one", "x/y/two", "three")) {
            assertThat(sha256(copy.resolve(f))).as(f).isEqualTo(sha256(tree.resolve(f)));
        }
    }

    @Test
    void sparseFilesTravelAsHolesAndStaySparse() throws Exception {
        final Path img = base.resolve("sparse/disk.img");
        Files.createDirectories(img.getParent());
        final long size = 64L << 20;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(size);
            final Random r = new Random(7);
            for (long at : new long[]{0, 10L << 20, 33L << 20, size - 5000}) {
                final byte[] island = new byte[5000];
                r.nextBytes(island);
                f.seek(at);
                f.write(island);
            }
        }
        assumeTrue(allocated(img) < (1L << 20), "the temporary file system keeps files sparse");
        final Result put = run("put", "--sparse", img.toString(), endpoint, "vm/disk.img");
        assertThat(put.code()).as("put: %s", put).isZero();
        final Path there = root.resolve("vm/disk.img");
        assertThat(Files.size(there)).isEqualTo(size);
        assertThat(sha256(there)).isEqualTo(sha256(img));
        assertThat(allocated(there)).as("allocated bytes on the server").isLessThan(1L << 20);
        final Path back = base.resolve("sparse/back.img");
        final Result get = run("get", "--sparse", endpoint, "vm/disk.img", back.toString());
        assertThat(get.code()).as("get: %s", get).isZero();
        assertThat(Files.size(back)).isEqualTo(size);
        assertThat(sha256(back)).isEqualTo(sha256(img));
        assertThat(allocated(back)).as("allocated bytes after get --sparse").isLessThan(1L << 20);
    }

    @Test
    void oneGibibyteRoundTrip() throws Exception {
        assumeTrue(!"false".equals(System.getProperty("braid.cli.bigTests")), "skipped with -Dbraid.cli.bigTests=false");
        final Path big = randomFile(base.resolve("big/one.gib"), 1L << 30, 11);
        final Result put = run("put", big.toString(), endpoint, "big/one.gib");
        assertThat(put.code()).as("put: %s", put).isZero();
        final Path back = base.resolve("big/back.gib");
        final Result get = run("get", endpoint, "big/one.gib", back.toString());
        assertThat(get.code()).as("get: %s", get).isZero();
        final String sum = sha256(big);
        assertThat(sha256(root.resolve("big/one.gib"))).isEqualTo(sum);
        assertThat(sha256(back)).isEqualTo(sum);
        Files.delete(big);
        Files.delete(back);
        Files.delete(root.resolve("big/one.gib"));
    }

    // ------------------------------------------------------------------ confinement

    @Test
    void pathsOutsideTheRootAreRefused() throws Exception {
        final Path outside = Files.createDirectories(base.resolve("outside"));
        Files.writeString(outside.resolve("secret"), "secret");
        Files.createDirectories(root.resolve("links"));
        Files.createSymbolicLink(root.resolve("links/out"), outside);
        final Path dest = base.resolve("escape-dest");
        Files.createDirectories(dest);

        Result r = run("get", endpoint, "../outside/secret", dest.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("braid: server: path '../outside/secret' refused: '..' is not allowed")
                .doesNotContain("Exception");

        r = run("get", endpoint, outside.resolve("secret").toString(), dest.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("refused: absolute paths are not allowed");

        r = run("get", endpoint, "links/out/secret", dest.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("path 'links/out/secret' refused: it leads outside the served root through "
                + "a symbolic link");

        final Path f = randomFile(base.resolve("small"), 100, 9);
        r = run("put", f.toString(), endpoint, "links/out/planted");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("path 'links/out/planted' refused: it leads outside the served root");
        assertThat(outside.resolve("planted")).doesNotExist();

        r = run("put", f.toString(), endpoint, "a/../../planted");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("'..' is not allowed");
        assertThat(base.resolve("planted")).doesNotExist();

        r = run("ls", endpoint, "links/out");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("leads outside the served root");
        try (Stream<Path> s = Files.list(dest)) {
            assertThat(s.toList()).isEmpty();
        }
    }

    // ------------------------------------------------------------------ interruptions

    @Test
    void anInterruptedDownloadLeavesNoFinalFile() throws Exception {
        randomFile(root.resolve("slow/big.bin"), 16L << 20, 12);
        final Path dest = Files.createDirectories(base.resolve("interrupted-get"));
        for (boolean kill9 : new boolean[]{false, true}) {
            final Path err = Files.createTempFile(base, "err", ".txt");
            final Process p = command("get", "--limit-rate", "2M", "--progress-interval", "0.1", endpoint,
                    "slow/big.bin", dest.resolve("big.bin").toString())
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
            awaitProgress(err, "get: ");
            if (kill9) {
                p.destroyForcibly();
            } else {
                p.destroy();
            }
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(dest.resolve("big.bin")).as("kill -%d", kill9 ? 9 : 15).doesNotExist();
            if (!kill9) {
                assertThat(leftovers(dest)).as("SIGTERM removes the temporary file").isEmpty();
            }
        }
    }

    @Test
    void anInterruptedUploadLeavesNoFileOnTheServer() throws Exception {
        final Path big = randomFile(base.resolve("up/big.bin"), 16L << 20, 13);
        final Path err = Files.createTempFile(base, "err", ".txt");
        final Process p = command("put", "--limit-rate", "2M", "--progress-interval", "0.1", big.toString(), endpoint,
                "incoming/big.bin").redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
        awaitProgress(err, "put: ");
        // "incoming" does not exist yet: the server receives into a temporary file in the deepest directory that
        // does (the root) and creates "incoming" only when the upload completes
        assertThat(leftovers(root)).as("the server receives into a temporary file").hasSize(1);
        assertThat(root.resolve("incoming")).doesNotExist();
        p.destroyForcibly();
        assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!leftovers(root).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(leftovers(root)).as("the server deleted its temporary file").isEmpty();
        assertThat(root.resolve("incoming")).as("no directory for an upload that did not complete").doesNotExist();
    }

    /** Waits until a progress line shows some bytes moved. */
    private static void awaitProgress(final Path err, final String prefix) throws Exception {
        final Pattern moving = Pattern.compile("^" + Pattern.quote(prefix) + "[1-9]", Pattern.MULTILINE);
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!moving.matcher(Files.readString(err)).find()) {
            assertThat(System.nanoTime()).as("progress in time; stderr: %s", Files.readString(err)).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    // ------------------------------------------------------------------ usage and console

    @Test
    void usageErrorsExitWith2AndHelpHasExamples() throws Exception {
        final Result bad = run("get", endpoint);
        assertThat(bad.code()).isEqualTo(2);
        final Result badPort = run("ls", "localhost:notaport");
        assertThat(badPort.code()).isEqualTo(2);
        final Result reconnectUnix = run("get", "--reconnect", "unix:/nonexistent.sock", "a", "b");
        assertThat(reconnectUnix.code()).isEqualTo(2);
        assertThat(reconnectUnix.err()).contains("--reconnect needs HOST:PORT");
        assertThat(badPort.err()).contains("is not HOST:PORT");
        for (String c : List.of("serve", "get", "put", "ls", "console")) {
            final Result help = run(c, "--help");
            assertThat(help.code()).isZero();
            assertThat(help.out()).contains("Examples:").contains("Exit codes:");
        }
        final Result refused = run("ls", "127.0.0.1:1");
        assertThat(refused.code()).isEqualTo(1);
        assertThat(refused.err().strip().lines()).hasSize(1).allMatch(l -> l.startsWith("braid: cannot connect"));
    }

    @Test
    void consoleExchangeThroughAPseudoTerminal() throws Exception {
        final String client = String.join(" ", command("console", endpoint).command().stream()
                .map(a -> "'" + a.replace("'", "'\\''") + "'").toList());
        final Process p = new ProcessBuilder("script", "-qefc", client, "/dev/null").redirectErrorStream(true).start();
        try {
            final StringBuffer seen = new StringBuffer();
            Thread.ofPlatform().daemon().start(() -> {
                final byte[] b = new byte[4096];
                try {
                    int n;
                    while ((n = p.getInputStream().read(b)) > 0) {
                        seen.append(new String(b, 0, n, StandardCharsets.UTF_8));
                    }
                } catch (IOException ignored) {
                    // ended
                }
            });
            awaitText(seen, "escape character is '^]'");
            // no terminal probe (a DECRQM query such as ESC[?2026$p): its reader thread would steal keystrokes
            assertThat(seen.toString()).as("terminal queries in the output").doesNotContain("$p");
            final OutputStream keys = p.getOutputStream();
            keys.write("echo hello-$((6*7))\r".getBytes(StandardCharsets.UTF_8));
            keys.flush();
            awaitText(seen, "hello-42");
            keys.write(ConsoleCommand.ESCAPE);
            keys.flush();
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("console detached; output: %s", seen).isTrue();
            assertThat(p.exitValue()).as("output: %s", seen).isZero();
            awaitText(seen, "braid console: detached");
        } finally { // a failed assertion must not leave the console client (and script) running
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    @Test
    void withoutConsoleTheServerSaysSo() throws Exception {
        final Process other = command("serve", "--root", root.toString()).redirectErrorStream(true).start();
        try {
            final String first = new BufferedReader(new InputStreamReader(other.getInputStream(), StandardCharsets.UTF_8))
                    .readLine();
            final Matcher m = Pattern.compile(" on (\\S+:\\d+) ").matcher(first);
            assertThat(m.find()).as(first).isTrue();
            final Result r = run("console", m.group(1));
            assertThat(r.code()).isEqualTo(1);
            assertThat(r.err()).contains("this server offers no console");
        } finally {
            other.destroy();
            other.waitFor(20, TimeUnit.SECONDS);
        }
    }

    private static void awaitText(final StringBuffer seen, final String text) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (seen.indexOf(text) < 0) {
            assertThat(System.nanoTime()).as("'%s' in time; output so far: %s", text, seen).isLessThan(deadline);
            Thread.sleep(50);
        }
    }
}
