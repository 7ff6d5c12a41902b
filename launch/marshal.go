package launch

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Marshal writes the configuration as a launch file that Parse reads back
// to the same values. It keeps secrets (passwords in URLs, the NATS token):
// use String for logs. Empty optional strings and absent sections are left
// out; everything else is written, defaults included, so the file shows
// every choice.
func (l *Launch) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(l.node("", nil)); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (l *Launch) node(tp string, cam *Camera) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range children[tp] {
		var v *yaml.Node
		switch p.kind {
		case kindList:
			v = &yaml.Node{Kind: yaml.SequenceNode}
			for i := range l.Cameras {
				v.Content = append(v.Content, l.node(p.Name+"[]", &l.Cameras[i]))
			}
		case kindMap:
			if p.present != nil && !p.present(l, cam) {
				continue
			}
			v = l.node(p.Name, cam)
			if len(v.Content) == 0 {
				v.Style = yaml.FlowStyle // "stereo: {}" still says the section is there
			}
		default:
			ptr := p.ptr(l, cam)
			if ptr == nil {
				continue
			}
			v = scalarNode(p, ptr)
			if v == nil {
				continue
			}
		}
		key := p.Name[strings.LastIndexByte(p.Name, '.')+1:]
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	}
	return m
}

// scalarNode returns the YAML node of a leaf, nil for an empty string.
func scalarNode(p *Param, ptr any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch x := ptr.(type) {
	case *string:
		if *x == "" {
			return nil
		}
		n.Tag, n.Value = "!!str", *x
	case *int:
		n.Value = strconv.Itoa(*x)
	case *float64:
		n.Value = strconv.FormatFloat(p.toFile(*x), 'g', -1, 64)
	case *bool:
		n.Value = strconv.FormatBool(*x)
	case *time.Duration:
		n.Tag, n.Value = "!!str", x.String()
	default:
		return nil
	}
	return n
}
