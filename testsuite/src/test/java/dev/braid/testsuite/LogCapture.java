package dev.braid.testsuite;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Collects what braid logs (the {@code dev.braid} logger and its children: {@code dev.braid.peer}'s records
 * reach it through parent handlers) between {@link #start()} and {@link #stop()}, for tests that check what
 * an operator sees. Records arrive on any thread.
 */
final class LogCapture {
    /** Held: java.util.logging keeps loggers weakly, and a collected logger would lose the handler. */
    private final Logger braidLog = Logger.getLogger("dev.braid");
    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(final LogRecord r) {
            records.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    void start() {
        braidLog.addHandler(capture);
    }

    void stop() {
        braidLog.removeHandler(capture);
    }

    /** The records whose message contains {@code text}. */
    List<LogRecord> containing(final String text) {
        return records.stream().filter(r -> r.getMessage() != null && r.getMessage().contains(text)).toList();
    }
}
