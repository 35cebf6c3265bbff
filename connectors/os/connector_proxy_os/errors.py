"""The error codes the os connector answers with (listed in its README). Every refusal runs nothing."""

from connector_proxy.sdk import ErrorCode

PROGRAM_NOT_ALLOWED = ErrorCode(
    "ProgramNotAllowed", "The program is not in the connector's programs table.", 403
)
ARGUMENT_NOT_ALLOWED = ErrorCode(
    "ArgumentNotAllowed",
    "An argument matches none of the program's allowed patterns (or there are too many).",
    403,
)
ENV_NOT_ALLOWED = ErrorCode(
    "EnvNotAllowed", "The call sets an environment variable not in settable_env.", 403
)
PATH_OUTSIDE_ROOTS = ErrorCode(
    "PathOutsideRoots", "The path (after resolving symlinks and ..) is outside every configured root.", 403
)
TIMEOUT = ErrorCode(
    "Timeout", "The program ran past its timeout; it was killed with its whole process group.", 504
)
OUTPUT_TOO_LARGE = ErrorCode(
    "OutputTooLarge",
    "The program wrote more than max_output_bytes and on_output_overflow is fail; it was killed.",
    413,
)
NON_ZERO_EXIT = ErrorCode(
    "NonZeroExit", "The program exited with a non-zero status (allow_nonzero answers it as a result).", 422
)
FILE_NOT_FOUND = ErrorCode("FileNotFound", "No such file or directory.", 404)
FILE_EXISTS = ErrorCode("FileExists", "The file exists and mode is create.", 409)
FILE_TOO_LARGE = ErrorCode("FileTooLarge", "The file or content is over max_file_bytes.", 413)
NOT_A_FILE = ErrorCode(
    "NotAFile", "The path is a directory (or not a regular file) where a file is needed.", 400
)
NOT_A_DIRECTORY = ErrorCode(
    "NotADirectory", "The path (or one of its parents) is a file where a directory is needed.", 400
)
PATH_TOO_LONG = ErrorCode("PathTooLong", "A name in the path is over 255 bytes, or the path over 4096.", 400)
PERMISSION_DENIED = ErrorCode(
    "PermissionDenied", "The daemon's user may not read, write or enter the path.", 403
)
INVALID_CONTENT = ErrorCode("InvalidContent", "The content is not valid base64.", 400)

ALL = (
    PROGRAM_NOT_ALLOWED,
    ARGUMENT_NOT_ALLOWED,
    ENV_NOT_ALLOWED,
    PATH_OUTSIDE_ROOTS,
    TIMEOUT,
    OUTPUT_TOO_LARGE,
    NON_ZERO_EXIT,
    FILE_NOT_FOUND,
    FILE_EXISTS,
    FILE_TOO_LARGE,
    NOT_A_FILE,
    NOT_A_DIRECTORY,
    PATH_TOO_LONG,
    PERMISSION_DENIED,
    INVALID_CONTENT,
)
