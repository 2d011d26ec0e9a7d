package dev.braid.testing;

import com.sun.management.HotSpotDiagnosticMXBean;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.PreInterruptCallback;
import org.junit.jupiter.api.extension.PreInterruptContext;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * When a test runs past its timeout, prints the JVM's own thread dump, virtual threads included, before
 * JUnit interrupts it. JUnit's dump ({@code junit.jupiter.execution.timeout.threaddump.enabled}, on for every
 * braid module) lists platform threads only, and braid's handlers, stream work and the loom backend's
 * readers and writers run on virtual threads: where those are parked is usually where a hang is.
 * Register it with {@code @ExtendWith} on a test class whose code runs on virtual threads.
 */
public final class VirtualThreadDumpOnTimeout implements PreInterruptCallback {
    @Override
    public void beforeThreadInterrupt(final PreInterruptContext context, final ExtensionContext extension)
            throws Exception {
        final Path dir = Files.createTempDirectory("braid-timeout");
        final Path dump = dir.resolve("threads.txt"); // dumpThreads refuses to overwrite
        try {
            ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                    .dumpThreads(dump.toString(), HotSpotDiagnosticMXBean.ThreadDumpFormat.TEXT_PLAIN);
            System.out.println(extension.getDisplayName() + " timed out; thread dump with virtual threads ("
                    + context.getThreadToInterrupt().getName() + " will be interrupted):\n" + Files.readString(dump));
        } finally {
            Files.deleteIfExists(dump);
            Files.deleteIfExists(dir);
        }
    }
}
