package msgs

import "errors"

// Errors returned by the validators, parsers and conversions; each is wrapped
// with the details of the problem, so test with errors.Is.
var (
	// ErrInvalidNamespace reports a namespace that ValidateNamespace rejects.
	ErrInvalidNamespace = errors.New("msgs: invalid namespace")
	// ErrInvalidName reports a camera name that ValidateName rejects.
	ErrInvalidName = errors.New("msgs: invalid camera name")
	// ErrInvalidKind reports a Kind outside the topics table.
	ErrInvalidKind = errors.New("msgs: invalid subject kind")
	// ErrInvalidSubject reports a NATS subject outside the contract.
	ErrInvalidSubject = errors.New("msgs: invalid subject")
	// ErrMissingField reports a nil message or an unset field the
	// conversion needs.
	ErrMissingField = errors.New("msgs: missing field")
	// ErrEncoding reports an image encoding the conversion does not read.
	ErrEncoding = errors.New("msgs: unsupported image encoding")
	// ErrSize reports image or array sizes that do not agree with each other
	// or are out of range.
	ErrSize = errors.New("msgs: size mismatch")
	// ErrInvalidPose reports a pose with non-finite values or a quaternion
	// that is not a rotation.
	ErrInvalidPose = errors.New("msgs: invalid pose")
	// ErrInvalidCalibration reports camera intrinsics or a calibration
	// message that is not a usable pinhole model.
	ErrInvalidCalibration = errors.New("msgs: invalid camera calibration")
	// ErrInvalidTimestamp reports a timestamp outside the protobuf range.
	ErrInvalidTimestamp = errors.New("msgs: invalid timestamp")
	// ErrInvalidCovariance reports a covariance that is neither empty nor
	// 36 finite values.
	ErrInvalidCovariance = errors.New("msgs: invalid covariance")
)
