import { describe, expect, it } from 'vitest';
import { exceededBound } from '../../server/saml/xml-bounds.js';

const bounds = { maxElements: 5, maxDepth: 3, maxAttributesPerElement: 2, maxAttributes: 4 };
const check = (xml: string) => exceededBound(xml, bounds);

describe('XML bounds, counted without building a DOM', () => {
  it('passes a document within every bound', () => {
    expect(check('<?xml version="1.0"?><a x="1" y="2"><b><c z="3"/></b><d/>text</a>')).toBeNull();
  });

  it('refuses one element too many', () => {
    expect(check('<a><b/><b/><b/><b/></a>')).toBeNull();
    expect(check('<a><b/><b/><b/><b/><b/></a>')).toBe('too_many_elements');
  });

  it('refuses nesting one level too deep; self-closing elements do not nest', () => {
    expect(check('<a><b><c/></b></a>')).toBeNull();
    expect(check('<a><b><c><d/></c></b></a>')).toBeNull();
    expect(check('<a><b><c><d></d></c></b></a>')).toBe('too_deep');
  });

  it('refuses too many attributes on one element, and in the whole document', () => {
    expect(check('<a x="1" y="2" z="3"/>')).toBe('too_many_attributes');
    expect(check('<a x="1" y="2"><b x="1" y="2"/></a>')).toBeNull();
    expect(check('<a x="1" y="2"><b x="1" y="2"/><c x="1"/></a>')).toBe('too_many_attributes');
  });

  it('does not count `=` or `>` inside quoted values, nor markup inside comments or CDATA', () => {
    expect(check(`<a x="a=b=c" y='c>d'><![CDATA[<b/><b/><b/><b/><b/>]]><!-- <b/><b/><b/><b/><b/> --></a>`)).toBeNull();
  });

  it('counts a `<` inside a quoted value as markup (never legal there, so it errs towards counting)', () => {
    expect(check('<a x="<b/><b/><b/><b/><b/>"/>')).toBe('too_many_elements');
  });

  it('lets no unterminated comment or CDATA hide the elements after it', () => {
    expect(check('<a><!-- <b/><b/><b/><b/><b/></a>')).toBe('too_many_elements');
    expect(check('<a><![CDATA[ <b/><b/><b/><b/><b/></a>')).toBe('too_many_elements');
  });

  it('lets no stray or mismatched end tag lower the depth a recovering parser keeps', () => {
    expect(check('</x></x></x><a><b><c><d></d></c></b></a>')).toBe('malformed_xml');
    expect(check('<a><b></x><c><d></d></c></b></a>')).toBe('malformed_xml');
  });

  it('counts a quote that opens no value as markup, so it cannot hide elements', () => {
    expect(check('<a "><b/><b/><b/><b/><b/>"></a>')).toBe('too_many_elements');
  });
});
