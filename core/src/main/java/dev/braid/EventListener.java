package dev.braid;

/**
 * Receives events for one procedure. Events of one connection are delivered one at a time, in the order
 * they arrived. Exceptions thrown by a listener are reported to the connection's error handler (logged) and
 * do not stop later events.
 */
@FunctionalInterface
public interface EventListener {
    /**
     * Receives one event.
     *
     * @param event the event, valid during this call only
     * @throws Exception anything: reported to the connection's error handler, later events still come
     */
    void onEvent(Event event) throws Exception;
}
