package dev.braid.stress;

import dev.braid.buffer.BufferPool;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Leak figures: braid's threads (platform and virtual) and pooled buffers still out. */
final class Threads {
    private Threads() {
    }

    /** Live platform threads whose name starts with {@code braid-}. */
    static int braidPlatform() {
        return (int) Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("braid-")).count();
    }

    /**
     * Live threads, platform and virtual, whose name starts with {@code braid-}: {@code getAllStackTraces}
     * does not list virtual threads, so this reads the JVM's JSON thread dump (as core's LeakChecks does),
     * which lists both. Slow-ish (a full dump).
     */
    static int braidAll() {
        return braidNames().size();
    }

    /** Names of the live braid threads, platform and virtual (see {@link #braidAll()}). */
    static java.util.List<String> braidNames() {
        try {
            final Path dump = Files.createTempFile("braid-stress-threads", ".json");
            Files.delete(dump); // dumpThreads refuses to overwrite
            try {
                ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class)
                        .dumpThreads(dump.toString(), com.sun.management.HotSpotDiagnosticMXBean.ThreadDumpFormat.JSON);
                final Matcher m = Pattern.compile("\"name\": \"(braid-[^\"]*)\"").matcher(Files.readString(dump));
                final java.util.List<String> names = new java.util.ArrayList<>();
                while (m.find()) {
                    names.add(m.group(1));
                }
                return names;
            } finally {
                Files.deleteIfExists(dump);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits up to {@code max} for {@code braidAll() <= target}; returns the last count. */
    static int awaitBraidThreadsAtMost(final int target, final Duration max) throws InterruptedException {
        final long deadline = System.nanoTime() + max.toNanos();
        int n = braidAll();
        while (n > target && System.nanoTime() < deadline) {
            Thread.sleep(50);
            n = braidAll();
        }
        return n;
    }

    /** Waits up to {@code max} for the pool's outstanding count to reach zero; returns the last count. */
    static long awaitNoOutstanding(final BufferPool pool, final Duration max) throws InterruptedException {
        final long deadline = System.nanoTime() + max.toNanos();
        while (pool.outstanding() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return pool.outstanding();
    }
}
