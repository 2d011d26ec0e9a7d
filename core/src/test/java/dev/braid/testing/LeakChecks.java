package dev.braid.testing;

import dev.braid.buffer.BufferPool;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * End-of-test checks every braid test runs: zero pooled buffers outstanding, and no braid thread left.
 * Both wait a little (releases and thread exits can trail the event a test waited for), then fail with the
 * facts: the count and, with leak tracking on, where each leaked buffer was acquired; the threads' names
 * and stacks.
 */
public final class LeakChecks {
    private static final long WAIT_MILLIS = 10_000;

    private LeakChecks() {
    }

    /** Fails unless {@code pool} has no buffer outstanding (waits up to 10 s for trailing releases). */
    public static void assertNoOutstandingBuffers(final BufferPool pool) {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        while (pool.outstanding() != 0 && System.nanoTime() < deadline) {
            sleep();
        }
        final long n = pool.outstanding();
        if (n != 0) {
            final AssertionError e = new AssertionError(n + " pooled buffers outstanding at the end of the test: " + pool);
            for (Throwable where : pool.describeLeaks()) {
                e.addSuppressed(where);
            }
            throw e;
        }
    }

    /** Fails if a thread whose name starts with {@code braid-} is still alive (waits up to 10 s). */
    public static void assertNoBraidThreads() {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        List<Thread> left = braidThreads();
        while (!left.isEmpty() && System.nanoTime() < deadline) {
            sleep();
            left = braidThreads();
        }
        if (!left.isEmpty()) {
            final StringBuilder sb = new StringBuilder("braid threads still alive at the end of the test:");
            for (Thread t : left) {
                sb.append("\n  ").append(t.getName()).append(" (").append(t.getState()).append(")");
                for (StackTraceElement s : t.getStackTrace()) {
                    sb.append("\n      at ").append(s);
                }
            }
            throw new AssertionError(sb.toString());
        }
    }

    private static List<Thread> braidThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("braid-"))
                .toList();
    }

    /**
     * Fails if a virtual thread whose name starts with {@code braid-} is alive: {@code getAllStackTraces}
     * does not list virtual threads, so this reads the JVM's JSON thread dump, which does (waits up to 10 s).
     */
    public static void assertNoBraidVirtualThreads() {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        String left = braidVirtualThreads();
        while (!left.isEmpty() && System.nanoTime() < deadline) {
            sleep();
            left = braidVirtualThreads();
        }
        if (!left.isEmpty()) {
            throw new AssertionError("braid virtual threads still alive at the end of the test: " + left);
        }
    }

    private static String braidVirtualThreads() {
        try {
            final java.nio.file.Path dump = java.nio.file.Files.createTempFile("braid-threads", ".json");
            java.nio.file.Files.delete(dump); // dumpThreads refuses to overwrite
            try {
                java.lang.management.ManagementFactory.getPlatformMXBean(
                        com.sun.management.HotSpotDiagnosticMXBean.class).dumpThreads(dump.toString(),
                        com.sun.management.HotSpotDiagnosticMXBean.ThreadDumpFormat.JSON);
                final String json = java.nio.file.Files.readString(dump);
                final java.util.regex.Matcher m = java.util.regex.Pattern
                        .compile("\"name\": \"(braid-[^\"]*)\"").matcher(json);
                final StringBuilder names = new StringBuilder();
                while (m.find()) {
                    names.append(names.isEmpty() ? "" : ", ").append(m.group(1));
                }
                return names.toString();
            } finally {
                java.nio.file.Files.deleteIfExists(dump);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }
}
