package dev.braid.stress;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.Connection;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The {@code descriptors} attack of {@link AttackScenario} (issue 11 §1.5, run for real rather than injected): a
 * braid server in a child process ({@link DescriptorServer}) under {@code prlimit --nofile=N:N}; an attacker opens
 * braid connections to it (each completes HELLO, so none is evicted as silent) until one is no longer accepted.
 * While descriptors stay exhausted for {@code --exhausted-for}, with connections waiting in the server's backlog
 * (so its listener keeps trying), the scenario counts the server's log lines (stderr, one line a record) and its
 * CPU time, and a client connected before the attack keeps calling. Then the attacker closes its connections
 * and a new client must be served within {@code --recover}.
 *
 * <p>Checked: descriptors did run out (the listener logged its accept failure); at most {@code --max-log-lines}
 * log lines while exhausted (one WARNING starts an episode; before issue 11 nio logged a stack trace for every
 * attempt, 218,014 in 15 s); the server's CPU time while exhausted at most {@code --max-cpu} of one CPU (no busy
 * loop; a loaded machine gives a spinning thread less than a whole CPU, so this bound is loose on purpose and
 * the log count is the sharper check); every call on the connection opened before answered; a new client served
 * after the attacker left; the server process alive throughout and exiting cleanly when asked.
 *
 * <p>Needs Linux's {@code prlimit} (util-linux) and {@code /proc}; without them the scenario fails saying so.
 * One thread (the scenario's), plus one that reads the child's stderr.
 */
final class DescriptorAttack {
    private static final byte[] PAYLOAD = new byte[64];
    /** Attacker connections opened at once. */
    private static final int BATCH = 16;
    /** How long an attacker's connect + HELLO may take before the scenario takes it as not accepted. */
    private static final Duration NOT_ACCEPTED_AFTER = Duration.ofSeconds(2);

    private final PrintStream out;
    private final int fdLimit;
    private final Duration exhaustedFor;
    private final double maxCpu;
    private final int maxLogLines;
    private final Duration recover;

    DescriptorAttack(final PrintStream out, final int fdLimit, final Duration exhaustedFor, final double maxCpu,
                     final int maxLogLines, final Duration recover) {
        this.out = out;
        this.fdLimit = fdLimit;
        this.exhaustedFor = exhaustedFor;
        this.maxCpu = maxCpu;
        this.maxLogLines = maxLogLines;
        this.recover = recover;
    }

    /** Whether this machine can run the attack: {@code prlimit} runs and {@code /proc} lists descriptors. */
    static String unavailableBecause() {
        if (!new File("/proc/self/fd").isDirectory()) {
            return "no /proc/self/fd (the descriptors attack needs Linux)";
        }
        try {
            final Process p = new ProcessBuilder("prlimit", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return "prlimit --version failed";
            }
            return null;
        } catch (IOException e) {
            return "prlimit (util-linux) not found: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    int run() throws Exception {
        final Verdict verdict = new Verdict(out);
        final String unavailable = unavailableBecause();
        if (unavailable != null) {
            verdict.fail("cannot run the descriptors attack: " + unavailable);
            return verdict.conclude("descriptors");
        }
        final List<String> cmd = new ArrayList<>(List.of("prlimit", "--nofile=" + fdLimit + ":" + fdLimit, "--",
                ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"),
                "-Xmx256m", "--enable-native-access=ALL-UNNAMED", "-Djava.util.logging.SimpleFormatter.format=%1$tT.%1$tL %4$s %3$s: %5$s%6$s%n"));
        for (String k : System.getProperties().stringPropertyNames()) {
            if (k.startsWith("braid.")) {
                cmd.add("-D" + k + "=" + System.getProperty(k)); // the backend and settings this run was given
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), DescriptorServer.class.getName()));
        final Process child = new ProcessBuilder(cmd).start();
        final List<String> log = new CopyOnWriteArrayList<>();
        final Thread logReader = Thread.ofPlatform().daemon().name("descriptor-server-stderr").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    log.add(line);
                }
            } catch (IOException e) {
                // the child ended
            }
        });
        final List<Connection> attackers = new ArrayList<>();
        final List<Socket> waiting = new ArrayList<>();
        try (Braid clientBraid = Braid.create(new BraidConfig());
             Braid attackBraid = Braid.create(new BraidConfig().helloTimeout(NOT_ACCEPTED_AFTER)
                     .connectTimeout(NOT_ACCEPTED_AFTER))) {
            final int port = readPort(child);
            final InetSocketAddress addr = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
            out.printf(Locale.ROOT, "descriptors: backend %s, server pid %d under prlimit --nofile=%d, %d descriptors "
                    + "open at start%n", System.getProperty("braid.backend", "auto"), child.pid(), fdLimit, fds(child));
            final Connection good = clientBraid.connect(addr);
            for (int i = 0; i < 200; i++) {
                good.call(AttackScenario.ECHO, PAYLOAD);
            }

            // open braid connections until the server accepts no more (bounded: the limit plus a margin)
            final long attackStart = System.nanoTime();
            int refused = 0;
            while (refused == 0 && attackers.size() < fdLimit + 64) {
                final List<CompletableFuture<Connection>> batch = new ArrayList<>();
                for (int i = 0; i < BATCH; i++) {
                    batch.add(attackBraid.connectAsync(addr));
                }
                for (CompletableFuture<Connection> f : batch) {
                    try {
                        attackers.add(f.get(NOT_ACCEPTED_AFTER.toMillis() * 3, TimeUnit.MILLISECONDS));
                    } catch (Exception e) {
                        refused++;
                    }
                }
            }
            final int openAtExhaustion = fds(child);
            out.printf(Locale.ROOT, "attacker: %d connections accepted, %d not accepted within %d ms, after %d ms; "
                            + "server descriptors open %d of %d%n", attackers.size(), refused,
                    NOT_ACCEPTED_AFTER.toMillis(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - attackStart),
                    openAtExhaustion, fdLimit);
            final boolean ranOut = awaitLine(log, "accept failed", 5_000);
            verdict.check(refused > 0 && ranOut, "descriptors ran out: " + refused + " connection(s) not accepted "
                    + "after " + attackers.size() + ", the listener logged its accept failure: " + ranOut);

            // exhausted: connections wait in the backlog, so the listener keeps meeting EMFILE
            for (int i = 0; i < 4; i++) {
                final Socket s = new Socket();
                waiting.add(s);
                s.connect(addr, 5_000);
            }
            final int linesBefore = log.size();
            final Duration cpuBefore = cpu(child);
            final long t0 = System.nanoTime();
            int calls = 0;
            int callFailures = 0;
            String callError = null;
            long slowestCall = 0;
            while (System.nanoTime() - t0 < exhaustedFor.toNanos()) {
                final long c0 = System.nanoTime();
                try {
                    good.call(AttackScenario.ECHO, PAYLOAD);
                    calls++;
                    slowestCall = Math.max(slowestCall, System.nanoTime() - c0);
                } catch (RuntimeException e) {
                    callFailures++;
                    callError = e.toString();
                }
                Thread.sleep(100);
            }
            final double seconds = (System.nanoTime() - t0) / 1e9;
            final Duration cpuDuring = cpu(child).minus(cpuBefore);
            final List<String> during = List.copyOf(log.subList(linesBefore, log.size()));
            final double cpuShare = cpuDuring.toNanos() / 1e9 / seconds;
            out.printf(Locale.ROOT, "exhausted for %.1f s: server wrote %d log lines, used %.3f s of CPU (%.1f%% of "
                    + "one CPU), load average %s%n", seconds, during.size(), cpuDuring.toNanos() / 1e9,
                    cpuShare * 100, loadAverage());
            verdict.check(during.size() <= maxLogLines, "server log lines while exhausted " + during.size() + " <= "
                    + maxLogLines + " (one WARNING per episode, no line per attempt)");
            verdict.check(cpuShare <= maxCpu, String.format(Locale.ROOT, "server CPU while exhausted %.1f%% of one "
                    + "CPU <= %.0f%% (no busy loop)", cpuShare * 100, maxCpu * 100));
            verdict.check(callFailures == 0 && calls > 0, String.format(Locale.ROOT, "connection opened before kept "
                    + "working: %d calls answered (slowest %.1f ms), %d failed%s", calls, slowestCall / 1e6,
                    callFailures, callError != null ? " (" + callError + ")" : ""));

            // the attacker leaves: a new client must be served again
            for (Connection c : attackers) {
                c.abort();
            }
            for (Socket s : waiting) {
                s.close();
            }
            final long r0 = System.nanoTime();
            String lastError = null;
            long servedAfter = -1;
            while (System.nanoTime() - r0 < recover.toNanos()) {
                try (Connection fresh = clientBraid.connect(addr)) {
                    fresh.call(AttackScenario.ECHO, PAYLOAD);
                    servedAfter = System.nanoTime() - r0;
                    break;
                } catch (RuntimeException e) {
                    lastError = e.toString();
                }
            }
            verdict.check(servedAfter >= 0, servedAfter >= 0
                    ? String.format(Locale.ROOT, "a new client served %.0f ms after the attacker left (bound %d ms)",
                    servedAfter / 1e6, recover.toMillis())
                    : "no new client served within " + recover.toMillis() + " ms after the attacker left (" + lastError + ")");
            final boolean resumed = awaitLine(log, "again after", 5_000);
            verdict.check(resumed, "the listener logged the episode's end (accepting again): " + resumed);
            verdict.check(child.isAlive(), "server process alive throughout");
            good.close();
        } finally {
            for (Connection c : attackers) {
                c.abort();
            }
            for (Socket s : waiting) {
                s.close();
            }
            child.getOutputStream().close(); // its stdin ends: the server closes and exits
            if (!child.waitFor(15, TimeUnit.SECONDS)) {
                child.destroyForcibly();
                child.waitFor(10, TimeUnit.SECONDS);
            }
            logReader.join(5_000);
        }
        verdict.check(child.exitValue() == 0, "server process exited cleanly when asked: exit code " + child.exitValue());
        out.println("server log (" + log.size() + " lines" + (log.size() > 20 ? ", first 20" : "") + "):");
        log.stream().limit(20).forEach(l -> out.println("  | " + l));
        return verdict.conclude("descriptors: exhausted without a log flood or a busy loop, existing connection "
                + "served, new clients served after");
    }

    /** The child's {@code PORT <n>} line (stdout), within a minute (a loaded machine starts a JVM slowly). */
    private static int readPort(final Process child) throws Exception {
        final CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("descriptor-server-stdout").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("PORT ")) {
                        port.complete(Integer.parseInt(line.substring(5).trim()));
                    }
                }
                port.completeExceptionally(new IOException("the server process ended without a port (exit "
                        + child.waitFor() + ")"));
            } catch (IOException | InterruptedException e) {
                port.completeExceptionally(e);
            }
        });
        return port.get(60, TimeUnit.SECONDS);
    }

    private static boolean awaitLine(final List<String> log, final String fragment, final long millis)
            throws InterruptedException {
        final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            for (String l : log) {
                if (l.contains(fragment)) {
                    return true;
                }
            }
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(50);
        }
    }

    /** Descriptors the child has open ({@code /proc/<pid>/fd}), or -1. */
    private static int fds(final Process child) {
        final String[] l = new File("/proc/" + child.pid() + "/fd").list();
        return l == null ? -1 : l.length;
    }

    private static Duration cpu(final Process child) {
        return child.info().totalCpuDuration().orElse(Duration.ZERO);
    }

    private static String loadAverage() {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "?";
        }
    }
}
