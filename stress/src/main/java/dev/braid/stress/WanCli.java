package dev.braid.stress;

import dev.braid.tooling.Durations;
import dev.braid.stress.link.LinkSpec;
import dev.braid.stress.link.TcpProbe;
import dev.braid.stress.link.TcpRelay;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * {@code braid get} and {@code braid put} through the relay, run as a user runs them: separate processes of
 * the command line ({@code --cli}: its jar or the {@code ./braid} launcher), {@code braid serve} behind a
 * {@link TcpRelay}, one file of {@code --cli-bytes} and then {@code --cli-files} files that add up to the same
 * size (moving at once, {@code -j}). The rate is the one the command prints in its summary line ("N files, X
 * in T s"), which starts after its JVM and connection are up; plain TCP is the time to download the same
 * number of bytes through a relay of the same link, connection included, into a file forced to disk at the end
 * as {@code braid get} and the server's {@code put} do, measured as a fresh JVM process (the ratio the target
 * checks: the command line is one, and compiles its code while it moves data), and beside it in this JVM (its
 * code compiled) and into memory. Every file is compared byte for byte with its original. One thread (and the
 * processes it starts).
 */
final class WanCli {
    private static final Pattern SUMMARY = Pattern.compile("(\\d+) of (\\d+) files, .* in ([0-9.]+) s \\(([0-9.]+) (B|KiB|MiB|GiB)/s\\)");
    /** In a private network namespace Netty finds no hardware address and warns; this quiets it (no effect on braid). */
    private static final String NETTY_MACHINE_ID = "-Dio.netty.machineId=02:00:00:00:00:02";
    private static final Pattern SERVING = Pattern.compile("serving .* on ([0-9.]+):(\\d+)");

    private final PrintStream out;
    private final Verdict verdict;
    private final WanScenario scenario;

    WanCli(final PrintStream out, final Verdict verdict, final WanScenario scenario) {
        this.out = out;
        this.verdict = verdict;
        this.scenario = scenario;
    }

    void run(final long bytesPerSecond) throws Exception {
        final long total = LinkSpec.parseBytes(scenario.cliBytes);
        final int files = scenario.cliFiles;
        final Path dir = Files.createTempDirectory("braid-wan-cli");
        Process serve = null;
        try {
            final Path root = Files.createDirectories(dir.resolve("root"));
            final Path local = Files.createDirectories(dir.resolve("local"));
            write(root.resolve("one.bin"), total, 1);
            final List<String> many = new ArrayList<>();
            for (int i = 0; i < files; i++) {
                write(local.resolve("part" + i + ".bin"), total / files, 10 + i);
                Files.copy(local.resolve("part" + i + ".bin"), root.resolve("part" + i + ".bin"));
                many.add("part" + i + ".bin");
            }
            Files.copy(root.resolve("one.bin"), local.resolve("one.bin"));
            serve = processBuilder(command("serve", "--root", root.toString(), "--listen", "127.0.0.1:0")).start();
            final InetSocketAddress server = awaitServing(serve, Duration.ofSeconds(120));
            out.printf(Locale.ROOT, "%n[cli] braid serve on %s; %s in one file, then %d files at once%n", server,
                    LinkSpec.rate(total).replace("/s", ""), files);
            for (String r : scenario.rtts) {
                final LinkSpec spec = scenario.spec(Durations.parse(r), bytesPerSecond);
                final String tag = "[cli relay " + r + "]";
                final double tcpMemory;
                final double tcpWarm;
                final double tcp;
                try (TcpProbe probe = TcpProbe.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                     TcpRelay relay = TcpRelay.start(probe.address(), spec)) {
                    TcpProbe.secondsToDownload(relay.address(), 1 << 20); // warms this JVM's relay and probe code
                    tcpMemory = total / TcpProbe.secondsToDownload(relay.address(), total);
                    final Path copy = dir.resolve("tcp-copy.bin");
                    tcpWarm = total / TcpProbe.secondsToDownloadToFile(relay.address(), total, copy);
                    Files.delete(copy);
                    tcp = total / coldTcpSeconds(relay.address(), total, copy, timeoutFor(total, bytesPerSecond));
                    Files.deleteIfExists(copy);
                }
                out.printf(Locale.ROOT, "%s plain TCP through the link: %.1f MB/s into memory, %.1f MB/s into a file "
                        + "forced to disk at the end (this JVM, its code compiled), %.1f MB/s the same as a fresh JVM "
                        + "process (the yardstick below: braid get and put are fresh JVMs that write and force files)%n",
                        tag, tcpMemory / 1e6, tcpWarm / 1e6, tcp / 1e6);
                final Duration max = timeoutFor(total, bytesPerSecond);
                try (TcpRelay relay = TcpRelay.start(server, spec)) {
                    final String at = "127.0.0.1:" + relay.address().getPort();
                    final Path got = Files.createDirectories(dir.resolve("got-" + r));
                    final double get1 = transfer(tag, "get 1 file", total, max, "get", "-q", at, "one.bin", got.toString());
                    final List<String> getMany = new ArrayList<>(List.of("get", "-q", "-j", Integer.toString(files), at));
                    getMany.addAll(many);
                    getMany.add(got.toString());
                    final double getN = transfer(tag, "get " + files + " files", total, max, getMany.toArray(String[]::new));
                    final String remote = "up-" + r;
                    final double put1 = transfer(tag, "put 1 file", total, max, "put", "-q",
                            local.resolve("one.bin").toString(), at, remote + "-one.bin");
                    final List<String> putMany = new ArrayList<>(List.of("put", "-q", "-j", Integer.toString(files)));
                    for (String m : many) {
                        putMany.add(local.resolve(m).toString());
                    }
                    putMany.add(at);
                    putMany.add(remote + "-many/");
                    final double putN = transfer(tag, "put " + files + " files", total, max, putMany.toArray(String[]::new));
                    final List<String> bad = new ArrayList<>();
                    same(bad, root.resolve("one.bin"), got.resolve("one.bin"));
                    same(bad, local.resolve("one.bin"), root.resolve(remote + "-one.bin"));
                    for (String m : many) {
                        same(bad, root.resolve(m), got.resolve(m));
                        same(bad, local.resolve(m), root.resolve(remote + "-many").resolve(m));
                    }
                    verdict.check(bad.isEmpty(), tag + " every file arrived intact (get and put): "
                            + (bad.isEmpty() ? "yes" : "no: " + bad));
                    for (String[] t : new String[][]{{"get 1 file", "" + get1}, {"get " + files + " files", "" + getN},
                            {"put 1 file", "" + put1}, {"put " + files + " files", "" + putN}}) {
                        final double rateOf = Double.parseDouble(t[1]);
                        final String what = String.format(Locale.ROOT, "target: %s braid %s %.1f MB/s / plain TCP into a file "
                                + "as a fresh JVM %.1f MB/s = %.2f (target >= %.2f; %.2f of plain TCP into a file in this "
                                + "JVM, %.2f of it into memory)", tag, t[0], rateOf / 1e6, tcp / 1e6, rateOf / tcp,
                                scenario.minRatio, rateOf / tcpWarm, rateOf / tcpMemory);
                        verdict.check(rateOf / tcp >= scenario.minRatio, what);
                        scenario.targetMissed(rateOf / tcp >= scenario.minRatio, what);
                    }
                    scenario.addTableLine(String.format(Locale.ROOT, "| cli (relay) | %s | %s | %.1f to a file as a fresh JVM (%.1f in this JVM, %.1f to memory) | get 1: %.1f (%.2f), put 1: %.1f (%.2f) "
                                    + "| get %d: %.1f (%.2f), put %d: %.1f (%.2f) | | | |", r, "auto", tcp / 1e6, tcpWarm / 1e6, tcpMemory / 1e6,
                            get1 / 1e6, get1 / tcp, put1 / 1e6, put1 / tcp, files, getN / 1e6, getN / tcp, files,
                            putN / 1e6, putN / tcp));
                }
            }
        } finally {
            if (serve != null) {
                serve.destroy();
                if (!serve.waitFor(10, TimeUnit.SECONDS)) {
                    serve.destroyForcibly();
                }
            }
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Duration timeoutFor(final long total, final long bytesPerSecond) {
        return Duration.ofSeconds(120 + 20 * total / Math.max(1, bytesPerSecond));
    }

    /**
     * Plain TCP into a file as the command line runs: {@link TcpProbe#main} in a fresh JVM (this JVM's java and
     * class path), timed inside it from connecting to the file forced, as {@code braid get}'s summary is timed
     * after its JVM started. The command line pays for compiling its code while it moves data; so does this.
     */
    private double coldTcpSeconds(final InetSocketAddress at, final long bytes, final Path file, final Duration max)
            throws IOException, InterruptedException {
        final Ran r = run(List.of(java(), "-cp", System.getProperty("java.class.path"), TcpProbe.class.getName(),
                at.getAddress().getHostAddress(), Integer.toString(at.getPort()), Long.toString(bytes), file.toString()), max);
        if (!r.ended()) {
            throw new IOException("plain TCP as a fresh JVM did not end within " + max);
        }
        if (r.exit() != 0) {
            throw new IOException("plain TCP as a fresh JVM failed (exit " + r.exit() + "): " + r.output().trim());
        }
        return Double.parseDouble(r.output().trim());
    }

    /** A process that ran: whether it ended within its time (else it was killed), its exit code, its output. */
    private record Ran(boolean ended, int exit, String output, double wallSeconds) {
    }

    /**
     * Runs {@code cmd} (standard error merged into its output) for at most {@code max}, then kills it; its
     * output read meanwhile on another thread, so that a talkative process never blocks on a full pipe.
     */
    private static Ran run(final List<String> cmd, final Duration max) throws IOException, InterruptedException {
        final long t0 = System.nanoTime();
        final Process p = processBuilder(cmd).start();
        final CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        });
        final boolean ended = p.waitFor(max.toMillis(), TimeUnit.MILLISECONDS);
        if (!ended) {
            p.destroyForcibly();
        }
        final double wall = (System.nanoTime() - t0) / 1e9;
        String text;
        try {
            text = output.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            text = "";
        }
        return new Ran(ended, ended ? p.exitValue() : -1, text, wall);
    }

    /**
     * A command line's process, standard error merged into its output; a launcher's JVM (in the scenario's
     * namespace it has no hardware address for Netty either) gets the machine id through BRAID_JAVA_OPTS.
     */
    private static ProcessBuilder processBuilder(final List<String> cmd) {
        final ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().merge("BRAID_JAVA_OPTS", NETTY_MACHINE_ID, (a, b) -> a + " " + b);
        return pb;
    }

    /** This JVM's {@code java} launcher. */
    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Runs one command line; returns the bytes per second its summary line reports (NaN if it failed). */
    private double transfer(final String tag, final String what, final long bytes, final Duration max,
                            final String... args) throws IOException, InterruptedException {
        final Ran r = run(command(args), max);
        final String text = r.output();
        final double wall = r.wallSeconds();
        final Matcher m = SUMMARY.matcher(text);
        final boolean ok = r.ended() && r.exit() == 0 && m.find() && m.group(1).equals(m.group(2));
        verdict.check(ok, String.format(Locale.ROOT, "%s braid %s: %s", tag, what,
                ok ? "exit 0, " + text.trim().replace('\n', ' ') : (r.ended() ? "exit " + r.exit() : "killed after " + max)
                        + ": " + text.trim().replace('\n', ' ')));
        if (!ok) {
            return Double.NaN;
        }
        // the rate it prints (to 0.1 MiB/s: its time, printed to 0.1 s of about 5, moved the ratio by 2 %)
        final double rate = Double.parseDouble(m.group(4)) * switch (m.group(5)) {
            case "KiB" -> 1024.0;
            case "MiB" -> 1024.0 * 1024;
            case "GiB" -> 1024.0 * 1024 * 1024;
            default -> 1.0;
        };
        out.printf(Locale.ROOT, "%s braid %s: %.1f MB/s (its summary: %s %s/s in %s s; %.1f s with the JVM's start)%n", tag,
                what, rate / 1e6, m.group(4), m.group(5), m.group(3), wall);
        return rate;
    }

    private List<String> command(final String... args) {
        final List<String> cmd = new ArrayList<>();
        if (scenario.cli.equals("classpath")) { // the command line's classes on this JVM's class path (tests)
            cmd.add(java());
            cmd.add("--enable-native-access=ALL-UNNAMED");
            cmd.add(NETTY_MACHINE_ID);
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add("dev.braid.cli.Main");
        } else if (scenario.cli.endsWith(".jar")) {
            cmd.add(java());
            cmd.add("--enable-native-access=ALL-UNNAMED");
            cmd.add(NETTY_MACHINE_ID);
            cmd.add("-jar");
            cmd.add(scenario.cli);
        } else {
            cmd.add(scenario.cli); // a launcher: BRAID_JAVA_OPTS (see processBuilder) carries the machine id
        }
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static InetSocketAddress awaitServing(final Process serve, final Duration max) throws Exception {
        final CompletableFuture<InetSocketAddress> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("wan-cli-serve-output").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(serve.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                final StringBuilder seen = new StringBuilder();
                while ((line = r.readLine()) != null) {
                    final Matcher m = SERVING.matcher(line);
                    if (m.find() && !f.isDone()) {
                        f.complete(new InetSocketAddress(m.group(1), Integer.parseInt(m.group(2))));
                    } else if (!f.isDone()) {
                        seen.append(line).append('\n');
                    }
                }
                f.completeExceptionally(new IOException("braid serve ended: " + seen));
            } catch (IOException e) {
                f.completeExceptionally(e);
            }
        });
        return f.get(max.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static void write(final Path file, final long bytes, final long seed) throws IOException {
        final byte[] block = new byte[1 << 20];
        new SplittableRandom(seed).nextBytes(block);
        try (OutputStream o = Files.newOutputStream(file)) {
            long left = bytes;
            while (left > 0) {
                final int n = (int) Math.min(block.length, left);
                o.write(block, 0, n);
                left -= n;
            }
        }
    }

    private static void same(final List<String> bad, final Path a, final Path b) throws IOException {
        if (!Files.exists(b) || Files.mismatch(a, b) != -1) {
            bad.add(b.toString());
        }
    }
}
