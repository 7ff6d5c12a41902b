package record

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// dynamicOrRegistered returns an empty message of desc's type: the
// registered Go type when there is one, else a dynamic message.
func dynamicOrRegistered(desc protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(desc.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(desc)
}
