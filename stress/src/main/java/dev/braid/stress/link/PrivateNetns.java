package dev.braid.stress.link;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Running this JVM's work in a network namespace of its own, so the namespace form of the emulator can add
 * devices, addresses and routing rules without touching the machine's network: the whole JVM is started
 * again under {@code unshare --net --kill-child} (a fresh namespace that exists only as long as that process,
 * so nothing is left behind however the run ends), and {@link #isPrivate()} refuses to configure anything in
 * the namespace the machine's init process uses. Needs root and util-linux's {@code unshare}.
 */
public final class PrivateNetns {
    /** Set in the environment of the JVM started inside the namespace. */
    public static final String MARKER = "BRAID_LINK_NETNS";

    private PrivateNetns() {
    }

    /** Whether the effective user is root (uid 0), read from /proc/self/status. */
    static boolean isRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    final String[] f = line.trim().split("\\s+");
                    return f.length > 2 && f[2].equals("0");
                }
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }

    /**
     * True if this JVM was started by {@link #relaunch} and its network namespace is not the one it was
     * started from (whose name {@link #relaunch} passes in {@link #MARKER}), nor init's where that can be
     * read: the only place the namespace form configures anything.
     */
    public static boolean isPrivate() {
        final String parent = System.getenv(MARKER);
        final String self = namespace("self");
        if (parent == null || self == null || self.equals(parent)) {
            return false;
        }
        final String init = namespace("1"); // often unreadable in containers and sandboxes
        return init == null || !init.equals(self);
    }

    /** "net:[4026531833]" for {@code /proc/PID/ns/net}, or null if it cannot be read. */
    private static String namespace(final String pid) {
        try {
            return Files.readSymbolicLink(Path.of("/proc", pid, "ns", "net")).toString();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Whether this JVM was started by {@link #relaunch} (its environment has {@link #MARKER}). */
    public static boolean insideRelaunch() {
        return System.getenv(MARKER) != null;
    }

    /** Null if {@link #relaunch} can work here, else why not. */
    public static String unavailabilityCause() {
        final String tun = Tun.unavailabilityCause();
        if (tun != null) {
            return tun;
        }
        if (which("unshare") == null) {
            return "util-linux's 'unshare' is not on PATH";
        }
        if (which("ip") == null) {
            return "iproute2's 'ip' is not on PATH";
        }
        return null;
    }

    /**
     * Runs {@code mainClass args} in a new JVM (same java, JVM options and class path, plus native access)
     * inside a new network namespace, its output going to this process's; returns its exit code. If it has
     * not ended within {@code max}, it is killed and this returns 124.
     */
    public static int relaunch(final String mainClass, final List<String> args, final Duration max)
            throws IOException, InterruptedException {
        final List<String> cmd = new ArrayList<>(List.of(which("unshare"), "--net", "--kill-child", "--"));
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib:jdwp") && !a.startsWith("-javaagent")) {
                cmd.add(a);
            }
        }
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Dio.netty.machineId=02:00:00:00:00:01"); // a new namespace has no hardware address for Netty to use
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        final ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        final String here = namespace("self");
        if (here == null) {
            throw new IOException("cannot read /proc/self/ns/net");
        }
        pb.environment().put(MARKER, here);
        final Process p = pb.start();
        final Thread hook = new Thread(p::destroyForcibly);
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            final Thread pump = Thread.ofPlatform().daemon().name("netns-output").start(() -> {
                try {
                    p.getInputStream().transferTo(System.out);
                } catch (IOException e) {
                    // the child went away
                }
            });
            if (!p.waitFor(max.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                pump.join(2_000);
                System.out.println("namespace run killed after " + max);
                return 124;
            }
            pump.join(5_000);
            System.out.flush();
            return p.exitValue();
        } finally {
            Runtime.getRuntime().removeShutdownHook(hook);
        }
    }

    /** Runs a command (in this namespace), failing with its output if it fails. */
    static String run(final String... cmd) throws IOException {
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + ": no answer in 30 s");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out.trim());
            }
            return out;
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(String.join(" ", cmd) + ": interrupted", e);
        }
    }

    /** Brings the loopback interface up (a new namespace starts with it down). Only in a private namespace. */
    public static void loopbackUp() throws IOException {
        requirePrivate();
        run(which("ip"), "link", "set", "lo", "up");
    }

    /**
     * Sets this namespace's default TCP congestion control ({@code net.ipv4.tcp_congestion_control}), for the
     * sockets opened after it. Only in a private namespace; one other than the machine's may choose only an
     * algorithm of {@code net.ipv4.tcp_allowed_congestion_control} (the kernel refuses others with EPERM).
     *
     * @throws IOException naming the algorithm and those allowed, if the kernel refuses it
     */
    public static void congestionControl(final String name) throws IOException {
        requirePrivate();
        final Path p = Path.of("/proc/sys/net/ipv4/tcp_congestion_control");
        try {
            Files.writeString(p, name);
        } catch (IOException e) {
            String allowed;
            try {
                allowed = Files.readString(Path.of("/proc/sys/net/ipv4/tcp_allowed_congestion_control")).trim();
            } catch (IOException e2) {
                allowed = "?";
            }
            throw new IOException("congestion control '" + name + "' refused in this namespace (" + e.getMessage()
                    + "); a namespace other than the machine's may choose one of: " + allowed, e);
        }
        final String now = Files.readString(p).trim();
        if (!now.equals(name)) {
            throw new IOException("congestion control '" + name + "' written, but the namespace's is '" + now + "'");
        }
    }

    static void requirePrivate() {
        if (!isPrivate()) {
            throw new IllegalStateException("refusing to configure the network: this process is in init's network "
                    + "namespace (run it through PrivateNetns.relaunch)");
        }
    }

    /** Full path of {@code tool} on PATH (or in /usr/sbin, /sbin), or null. */
    static String which(final String tool) {
        final List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        for (String d : dirs) {
            if (d.isEmpty()) {
                continue;
            }
            final Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }
}
