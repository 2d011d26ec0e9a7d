package dev.braid.epoll;

import io.netty.buffer.ByteBufAllocator;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Collects Netty's leak reports. With {@code -Dio.netty.leakDetection.level=paranoid} (this module's surefire
 * argLine) every buffer Netty allocates is tracked, and one that is garbage collected without being released
 * is reported by {@code ResourceLeakDetector} through its logger (java.util.logging here: no other logging
 * framework is on the test class path) the next time a buffer is allocated.
 */
final class NettyLeakReports {
    private static final Logger NETTY = Logger.getLogger("io.netty.util.ResourceLeakDetector");
    private static final List<String> REPORTS = new ArrayList<>();

    static {
        NETTY.addHandler(new Handler() {
            @Override
            public void publish(final LogRecord r) {
                if (r.getMessage() != null && r.getMessage().contains("LEAK")) {
                    synchronized (REPORTS) {
                        REPORTS.add(r.getMessage());
                    }
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        });
    }

    private NettyLeakReports() {
    }

    static void install() {
        // the static initializer did it
    }

    /** Collects garbage, then allocates so that the detector reports what it found; returns the reports so far. */
    static List<String> collect() throws InterruptedException {
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
            for (int j = 0; j < 100; j++) {
                ByteBufAllocator.DEFAULT.directBuffer(64).release();
            }
        }
        synchronized (REPORTS) {
            return List.copyOf(REPORTS);
        }
    }
}
