import Logging

/// In-process servers log notices and worse only: an access line per request of every test would bury a failure.
let quietLogger: Logger = {
    var logger = Logger(label: "coffer")
    logger.logLevel = .notice
    return logger
}()
